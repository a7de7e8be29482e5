// The webhook receiver the worker delivers to: a plain Node HTTP server on loopback that answers
// 500 until the test switches it to 200, and records every request (method, path, headers, body
// and the status it answered), so a test can see the deliveries themselves, not only the rows.

import { createServer } from "node:http";

export async function startReceiver() {
  const requests = [];
  let status = 500;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const answered = status;
      requests.push({
        method: req.method,
        path: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        status: answered,
        at: Date.now(),
      });
      res.writeHead(answered, { "content-type": "text/plain" });
      res.end(answered === 200 ? "ok" : "receiver down (e2e)");
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    /** From now on answer every delivery with `code` (500 fails it, 200 accepts it). */
    answer(code) {
      status = code;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
