// Notifications: a webhook channel to a receiver that fails, a test notification driven to dead
// by the real worker (five attempts, 1-2 s apart), the dashboard's dead-letter card and the Dead
// letter tab showing it, and a requeue (keyboard only) with the receiver fixed that ends `sent`.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { checkPage, tabTo, WAIT } from "./lib/browser.mjs";
import { until } from "./lib/util.mjs";

const CHANNEL = "e2e-webhook";

/** The channel, made with the Channels page's form: subscribed to channel tests only. */
async function createChannel(ctx, page) {
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Channels", exact: true }).click();
  await page.getByRole("button", { name: "Create channel" }).click();
  const dialog = page.getByRole("dialog", { name: "Create a channel" });
  await dialog.getByLabel("Name", { exact: true }).fill(CHANNEL);
  await dialog.getByLabel("Kind", { exact: true }).selectOption("webhook");
  await dialog.getByLabel("URL", { exact: true }).fill(ctx.receiver.url);
  await dialog.getByLabel("Signing secret", { exact: true }).fill(secret);
  const events = dialog.getByRole("group", { name: "Events" });
  // Only channel tests: nothing else this run does may queue a delivery to it.
  const ticked = events.getByRole("checkbox", { checked: true });
  while ((await ticked.count()) > 0) await ticked.first().uncheck();
  await events.getByRole("checkbox", { name: "Channel test" }).check();
  await checkPage(page, ctx.recorder, "channel-form");
  await dialog.getByRole("button", { name: "Create", exact: true }).click();
  await dialog.waitFor({ state: "hidden" });
  await page.getByTestId("channel-row").filter({ hasText: CHANNEL }).waitFor();

  const channel = (await ctx.admin.get("/notification-channels")).data.find((c) => c.name === CHANNEL);
  assert.ok(channel, "the API has the channel");
  assert.equal(channel.kind, "webhook");
  assert.deepEqual(channel.event_types, ["channel_test"]);
  assert.equal(channel.enabled, true);
  return channel;
}

/** "Send test to <channel>" on the Channels page; the page names the notification it queued. */
async function sendTest(ctx, page) {
  await page.getByRole("button", { name: `Send test to ${CHANNEL}` }).click();
  const queued = page.getByRole("status").filter({ hasText: `Test notification queued for ${CHANNEL}` });
  await queued.waitFor();
  await checkPage(page, ctx.recorder, "channels");
  const id = (await queued.innerText()).match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/)?.[0];
  assert.ok(id, `a notification id in "${await queued.innerText()}"`);
  return ctx.admin.get(`/notifications/${id}`);
}

export default function register(ctx) {
  ctx.step(
    "(4) a notification to a failing webhook goes dead, shows on the dashboard and the Dead letter tab, and a keyboard requeue ends sent",
    async () => {
      const { page } = ctx.users.admin;
      ctx.receiver.answer(500);
      const channel = await createChannel(ctx, page);
      const created = await sendTest(ctx, page);
      assert.equal(created.channel_id, channel.id);
      assert.equal(created.type, "channel_test");

      // The real worker: five attempts, each answered 500, 1 s then 2 s apart, then dead.
      const dead = await until(
        `notification ${created.id} to become dead`,
        async () => {
          const n = await ctx.admin.get(`/notifications/${created.id}`);
          return n.status === "dead" ? n : false;
        },
        { timeout: 60_000, interval: 500 },
      );
      assert.equal(dead.retry_count, 5);
      assert.equal(dead.max_attempts, 5);
      const failedDeliveries = ctx.receiver.requests.filter((r) => r.status === 500);
      assert.ok(failedDeliveries.length >= 5, `the receiver saw ${failedDeliveries.length} failed deliveries`);
      // Signed per Standard Webhooks.
      assert.ok(failedDeliveries[0].headers["webhook-signature"], "deliveries carry webhook-signature");

      // The dashboard's card counts it, and its link opens the Dead letter tab.
      await page.goto("/");
      const card = page.getByTestId("dead-letter-card");
      await until("the dead-letter card to count it", async () => Number((await card.locator(".big").innerText()).trim()) >= 1, {
        timeout: WAIT,
      });
      await checkPage(page, ctx.recorder, "dashboard");
      await card.getByRole("link", { name: "Open the Dead letter tab" }).click();
      await page.waitForURL(/\/notifications\?tab=dead$/);
      const deadTab = page.getByRole("tab", { name: "Dead letter" });
      const allTab = page.getByRole("tab", { name: "All" });
      assert.equal(await deadTab.getAttribute("aria-selected"), "true");
      const requeue = page.getByRole("button", { name: `Requeue notification ${created.id}` });
      const deadRow = page.getByTestId("notification-row").filter({ has: requeue });
      await deadRow.waitFor();
      await deadRow.getByText("Retry 5/5", { exact: true }).waitFor();
      await deadRow.getByText("dead", { exact: true }).waitFor();
      await checkPage(page, ctx.recorder, "notifications-dead");

      // Its detail drawer: every attempt, answered 500.
      await deadRow.getByRole("button", { name: "channel_test" }).click();
      const drawer = page.getByRole("dialog", { name: "Notification" });
      await drawer.getByText(created.id).waitFor();
      await until("five attempts in the drawer", async () => (await drawer.locator("tbody tr").count()) >= 5, { timeout: WAIT });
      await checkPage(page, ctx.recorder, "notification-drawer");
      // Keyboard users land in the drawer (its close button has the focus), and Escape closes it.
      assert.ok(
        await drawer.getByRole("button", { name: "Close details" }).evaluate((el) => el === document.activeElement),
        "the drawer's close button has the focus",
      );
      await page.keyboard.press("Escape");
      await drawer.waitFor({ state: "hidden" });

      // The tab switch with the keyboard: Tab to "All", Space; Tab back to "Dead letter", Enter.
      await tabTo(page, allTab, { reverse: true });
      await page.keyboard.press("Space");
      await until("the All tab selected", async () => (await allTab.getAttribute("aria-selected")) === "true");
      await page.waitForURL((url) => !url.search.includes("tab=dead"));
      await page.getByTestId("notification-row").first().waitFor();
      await checkPage(page, ctx.recorder, "notifications-all");
      await tabTo(page, deadTab);
      await page.keyboard.press("Enter");
      await until("the Dead letter tab selected", async () => (await deadTab.getAttribute("aria-selected")) === "true");
      await page.waitForURL(/tab=dead/);

      // The receiver is fixed; Tab to the row's Requeue button and press Enter.
      ctx.receiver.answer(200);
      await tabTo(page, requeue);
      await page.keyboard.press("Enter");
      // Requeued, it leaves the dead letters.
      await requeue.waitFor({ state: "detached" });

      // The All tab shows it sent (the list has no timer: reload until the worker delivered it).
      await allTab.click();
      await until(
        "the requeued row to show sent on the All tab",
        async () => {
          await page.reload();
          const row = page.getByTestId("notification-row").filter({ hasText: "channel_test" });
          await row.first().waitFor();
          return (await row.first().getByText("sent", { exact: true }).count()) === 1;
        },
        { timeout: 30_000, interval: 1_000 },
      );
      const sent = await ctx.admin.get(`/notifications/${created.id}`);
      assert.equal(sent.status, "sent");
      assert.ok(ctx.receiver.requests.some((r) => r.status === 200), "the receiver accepted a delivery");
      await checkPage(page, ctx.recorder, "notifications-all-sent");
    },
    { timeout: 150_000 },
  );
}
