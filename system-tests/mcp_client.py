"""Drives `certctl mcp` with the official MCP Python SDK (PyPI `mcp`), as an MCP host would.

usage:
  mcp_client.py stdio --certctl PATH --server URL --dead ID --certificate ID
  mcp_client.py http  --url http://127.0.0.1:PORT/mcp --dead ID --certificate ID

The keys come from the environment: MCP_OPERATOR_KEY (an operator's: it may requeue) and
MCP_VIEWER_KEY (a viewer's: it may read certificates and nothing else). Over stdio each key gets
a `certctl mcp` process of its own (CERTCTL_API_KEY); over HTTP each gets a connection of its
own to the one server (`Authorization: Bearer <key>`).

The scenario: initialize; the 20 tools and their hints; `list_notifications(status=dead)` finds
the dead notification given; `requeue_notification` makes it pending; as the viewer,
`revoke_certificate` is a tool error carrying the API's 403 (while `get_certificate` works).
Prints what it does; exits 0 when every check holds, 1 with the failed check otherwise.
"""

import argparse
import asyncio
import json
import os
import sys
from contextlib import asynccontextmanager

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

READ_ONLY = {
    "dashboard_summary",
    "list_certificates",
    "get_certificate",
    "list_jobs",
    "list_notifications",
    "get_notification",
    "list_channels",
    "list_audit_events",
    "list_issuers",
    "list_profiles",
    "list_renewal_policies",
    "list_discovered_certificates",
}
WRITES = {
    "issue_certificate",
    "renew_certificate",
    "revoke_certificate",
    "approve_job",
    "reject_job",
    "requeue_notification",
    "test_channel",
    "submit_job_csr",
}


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def log(message):
    print(message, flush=True)


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def json_of(result, tool):
    text = text_of(result)
    try:
        return json.loads(text)
    except ValueError as e:
        raise CheckFailed(f"{tool}: the text content is not JSON ({e}): {text!r}") from e


@asynccontextmanager
async def session(opts, key):
    """An initialized MCP session acting with `key`, and the server's initialize answer."""
    if opts.mode == "stdio":
        env = {"CERTCTL_SERVER": opts.server, "CERTCTL_API_KEY": key}
        if "CERTCTL_CONFIG" in os.environ:
            # Keeps the server away from the user's own contexts.
            env["CERTCTL_CONFIG"] = os.environ["CERTCTL_CONFIG"]
        params = StdioServerParameters(command=opts.certctl, args=["mcp"], env=env)
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as s:
                yield s, await s.initialize()
    else:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        async with http:
            async with streamable_http_client(opts.url, http_client=http) as (read, write):
                async with ClientSession(read, write) as s:
                    yield s, await s.initialize()


async def as_operator(opts, key):
    async with session(opts, key) as (s, init):
        log(f"[{opts.mode}] initialize: protocol={init.protocol_version} server={init.server_info.name} "
            f"{init.server_info.version}")
        check(init.server_info.name == "certctl", f"server name is {init.server_info.name!r}, not 'certctl'")
        check(init.capabilities.tools is not None, "the server does not offer tools")
        instructions = init.instructions or ""
        check("list_notifications" in instructions and "dead" in instructions,
              f"the instructions do not say how to find dead notifications: {instructions!r}")

        tools = {t.name: t for t in (await s.list_tools()).tools}
        log(f"[{opts.mode}] tools: {sorted(tools)}")
        check(set(tools) == READ_ONLY | WRITES,
              f"tools differ from the 17 expected: missing {sorted(READ_ONLY | WRITES - set(tools))}, "
              f"extra {sorted(set(tools) - (READ_ONLY | WRITES))}")
        for name, tool in tools.items():
            a = tool.annotations
            check(a is not None, f"{name} has no annotations")
            if name in READ_ONLY:
                check(a.read_only_hint is True, f"{name}: readOnlyHint is {a.read_only_hint!r}, not true")
            else:
                check(a.read_only_hint is False, f"{name}: readOnlyHint is {a.read_only_hint!r}, not false")
                want = name == "revoke_certificate"
                check(a.destructive_hint is want, f"{name}: destructiveHint is {a.destructive_hint!r}, not {want}")
        statuses = tools["list_notifications"].input_schema["properties"]["status"].get("enum", [])
        check("dead" in statuses, f"list_notifications' status does not offer 'dead': {statuses}")
        check("id" in tools["requeue_notification"].input_schema.get("required", []),
              "requeue_notification does not require an id")

        r = await s.call_tool("list_notifications", {"status": "dead"})
        check(not r.is_error, f"list_notifications(status=dead) failed: {text_of(r)}")
        page = json_of(r, "list_notifications")
        ids = [n["id"] for n in page["data"]]
        log(f"[{opts.mode}] list_notifications(status=dead): {ids}")
        check(opts.dead in ids, f"the dead notification {opts.dead} is not listed: {ids}")
        check(all(n["status"] == "dead" for n in page["data"]), f"not only dead ones: {page['data']}")
        check(r.structured_content == page, "the structured content differs from the text")

        r = await s.call_tool("get_notification", {"id": "not-a-uuid"})
        log(f"[{opts.mode}] get_notification(id=not-a-uuid): isError={r.is_error} {text_of(r)!r}")
        check(r.is_error, "a malformed id was not a tool error")

        r = await s.call_tool("requeue_notification", {"id": opts.dead})
        check(not r.is_error, f"requeue_notification failed: {text_of(r)}")
        requeued = json_of(r, "requeue_notification")
        log(f"[{opts.mode}] requeue_notification: status={requeued.get('status')} "
            f"retry_count={requeued.get('retry_count')}")
        check(requeued.get("id") == opts.dead, f"requeued another notification: {requeued}")
        check(requeued.get("status") == "pending", f"the requeued notification is not pending: {requeued}")

        r = await s.call_tool("list_notifications", {"status": "dead"})
        ids = [n["id"] for n in json_of(r, "list_notifications")["data"]]
        check(opts.dead not in ids, f"{opts.dead} is still dead after the requeue: {ids}")


async def as_viewer(opts, key):
    async with session(opts, key) as (s, _):
        r = await s.call_tool("get_certificate", {"id": opts.certificate})
        check(not r.is_error, f"the viewer cannot read the certificate: {text_of(r)}")
        check(json_of(r, "get_certificate")["status"] == "active", "the certificate is not active")

        # Several states at once: the schema says a list of the six, and any of them matches.
        tools = {t.name: t for t in (await s.list_tools()).tools}
        status = tools["list_certificates"].input_schema["properties"]["status"]
        check(
            "array" in json.dumps(status.get("type")) and len(status.get("items", {}).get("enum", [])) == 6,
            f"list_certificates' status is not a list of the six states: {status}",
        )
        live = ["active", "expiring", "renewal_in_progress"]
        r = await s.call_tool("list_certificates", {"status": live, "limit": 500})
        page = json_of(r, "list_certificates")
        check(opts.certificate in [c["id"] for c in page["data"]], f"the active certificate is not among the live ones: {page}")
        check(all(c["status"] in live for c in page["data"]), f"a certificate that is not live: {page['data']}")
        r = await s.call_tool("list_certificates", {"status": ["revoked", "renewed"]})
        check(opts.certificate not in [c["id"] for c in json_of(r, "list_certificates")["data"]], "the active certificate is listed as revoked or renewed")

        r = await s.call_tool("revoke_certificate", {"id": opts.certificate, "reason": "superseded"})
        text = text_of(r)
        log(f"[{opts.mode}] viewer revoke_certificate: isError={r.is_error} {text!r}")
        check(r.is_error is True, f"the viewer's revoke was not a tool error: {text}")
        check("403" in text and "forbidden" in text.lower(), f"the tool error does not carry the 403: {text!r}")


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["stdio", "http"])
    parser.add_argument("--certctl", help="the certctl binary (stdio)")
    parser.add_argument("--server", help="the API's base URL (stdio)")
    parser.add_argument("--url", help="the MCP endpoint (http)")
    parser.add_argument("--dead", required=True, help="the id of a dead notification")
    parser.add_argument("--certificate", required=True, help="the id of an active certificate")
    opts = parser.parse_args()
    if opts.mode == "stdio" and not (opts.certctl and opts.server):
        parser.error("stdio needs --certctl and --server")
    if opts.mode == "http" and not opts.url:
        parser.error("http needs --url")
    operator, viewer = os.environ.get("MCP_OPERATOR_KEY"), os.environ.get("MCP_VIEWER_KEY")
    if not operator or not viewer:
        parser.error("set MCP_OPERATOR_KEY and MCP_VIEWER_KEY")
    try:
        await as_operator(opts, operator)
        await as_viewer(opts, viewer)
    except CheckFailed as e:
        print(f"FAIL [{opts.mode}]: {e}", flush=True)
        return 1
    print(f"PASS [{opts.mode}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
