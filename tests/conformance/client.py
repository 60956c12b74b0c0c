"""The client side of the official conformance suite's client scenarios.

`conformance client --command "python client.py"` runs this with the test
server's URL as the last argument. The client under test is toolgate's
upstream client: this script plays the IDE (the Python `mcp` SDK over stdio)
and configures toolgate with the test server as its only, unprefixed,
upstream. It then does what each scenario expects of a client: initialize,
list tools, call them, answer elicitation with the schema's defaults.

Environment: TOOLGATE_BIN (the toolgate binary), MCP_CONFORMANCE_SCENARIO.
"""

import json
import os
import sys
import tempfile

import anyio
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

ARGS = {
    "add_numbers": {"a": 5, "b": 3},
}


async def elicit(context, params):
    # Accept with every default the schema offers (SEP-1034).
    schema = getattr(params, "requested_schema", None) or {}
    content = {
        name: prop["default"]
        for name, prop in (schema.get("properties") or {}).items()
        if isinstance(prop, dict) and "default" in prop
    }
    return types.ElicitResult(action="accept", content=content)


async def main(url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="toolgate-conformance-") as home:
        await run(url, home)


async def run(url: str, home: str) -> None:
    with open(os.path.join(home, "config.toml"), "w") as f:
        # list_wait: the first tools/list waits for the upstream even when
        # the machine is busy (the whole suite runs in parallel).
        f.write(f'[serve]\nlist_wait = "60s"\n\n[servers.upstream]\nurl = {json.dumps(url)}\nprefix = ""\n')
    env = dict(os.environ, TOOLGATE_HOME=home)
    params = StdioServerParameters(command=os.environ["TOOLGATE_BIN"], args=["serve"], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, elicitation_callback=elicit) as session:
            await session.initialize()
            tools = await session.list_tools()
            for tool in tools.tools:
                result = await session.call_tool(tool.name, ARGS.get(tool.name, {}))
                print(f"{tool.name}: is_error={result.is_error}", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(main, sys.argv[-1])
