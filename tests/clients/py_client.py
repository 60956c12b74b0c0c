"""Real MCP client (the Python `mcp` SDK) driving `toolgate serve` end to end.

Run: $TESTBED_PYTHON tests/clients/py_client.py SCENARIO

The Rust tests (tests/e2e/) write $TOOLGATE_HOME/config.toml, then run one
scenario of this file. Environment:
  TOOLGATE_BIN    the toolgate binary under test
  TOOLGATE_HOME   its home (config.toml inside)
  TESTBED_*       the installed peers (tests/testbed/README.md)
  FAULTY_PID_FILE where the faulty fixture appends its PIDs, when configured
Exit status 0 when the scenario passed; otherwise a traceback on stderr and 1.
Every wait is on an event (a notification, a result) bounded by a timeout
that only fires on failure.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp.types as types
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client

# Sampling, roots, logging and subscriptions are deprecated in the SDK's
# newest protocol revision; toolgate speaks 2025-11-25, where they are not.
warnings.filterwarnings("ignore")

# Bound of every wait in a scenario; only reached when something is broken.
WAIT = 20.0
SCENARIOS: dict[str, Callable[[], Any]] = {}


def scenario(fn: Callable[[], Any]) -> Callable[[], Any]:
    SCENARIOS[fn.__name__] = fn
    return fn


def log(*args: Any) -> None:
    print("py_client:", *args, file=sys.stderr, flush=True)


class Inbox:
    """Notifications the client received, in order, with a way to wait for one."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = anyio.Event()

    async def handler(self, message: Any) -> None:
        if isinstance(message, Exception):
            log("transport exception:", repr(message))
            return
        self.items.append(message)
        self._changed.set()
        self._changed = anyio.Event()

    def methods(self) -> list[str]:
        return [getattr(m, "method", "?") for m in self.items]

    def count(self, method: str) -> int:
        return self.methods().count(method)

    async def wait_for(self, what: str, pred: Callable[[], bool], timeout: float = WAIT) -> None:
        try:
            with anyio.fail_after(timeout):
                while True:
                    changed = self._changed  # taken before the check: no lost wake-up
                    if pred():
                        return
                    await changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; got {self.methods()}") from None


def server_env() -> dict[str, str]:
    # StdioServerParameters(env=None) would not pass TOOLGATE_HOME on.
    return dict(os.environ)


@asynccontextmanager
async def session_with(command: str, args: list[str], **kwargs: Any) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=command, args=args, env=server_env())
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, **kwargs) as session:
            await session.initialize()
            yield session


def toolgate(**kwargs: Any):
    """A session with `toolgate serve`, the way an IDE runs it."""
    return session_with(os.environ["TOOLGATE_BIN"], ["serve"], **kwargs)


def text_of(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


def dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)


def toolgate_error(result: types.CallToolResult) -> dict[str, Any]:
    """The `_meta["dev.toolgate/error"]` of a result toolgate made itself."""
    check(result.is_error is True, f"expected isError, got {dump(result)}")
    check(text_of(result).startswith("toolgate: "), f"text should start with 'toolgate: ': {text_of(result)!r}")
    meta = (result.meta or {}).get("dev.toolgate/error")
    check(isinstance(meta, dict), f"no _meta dev.toolgate/error in {dump(result)}")
    return meta


async def assert_unknown_tool(s: ClientSession, name: str) -> None:
    """Calling `name` fails as an unknown tool. toolgate's contract is JSON-RPC
    error -32602 "Unknown tool: NAME"; an isError result of kind unknown_tool
    is accepted here too, so that this scenario tests what it is about (the
    contract itself is e2e::protocol::an_unknown_tool_is_invalid_params)."""
    try:
        r = await s.call_tool(name, {})
    except MCPError as e:
        check(e.code == -32602 and f"Unknown tool: {name}" in e.message, f"{e.code} {e.message}")
        return
    check(r.is_error is True, f"calling the unknown tool {name} succeeded: {dump(r)}")
    check(toolgate_error(r).get("kind") == "unknown_tool", f"{dump(r)}")
    log(f"unknown tool {name} answered as an isError result, not error -32602")


async def list_all(fetch: Callable[[str | None], Any], field: str) -> list[Any]:
    """Every item of a paginated list, following nextCursor until it ends."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(100):
        page = await fetch(cursor)
        items.extend(getattr(page, field))
        cursor = page.next_cursor
        if not cursor:
            return items
    raise AssertionError(f"{field}: more than 100 pages")


def pages(session: ClientSession, kind: str) -> Callable[[str | None], Any]:
    def params(cursor: str | None) -> types.PaginatedRequestParams | None:
        return types.PaginatedRequestParams(cursor=cursor) if cursor else None

    fetch = {
        "tools": session.list_tools,
        "resources": session.list_resources,
        "resourceTemplates": session.list_resource_templates,
        "prompts": session.list_prompts,
    }[kind]
    return lambda cursor: fetch(params=params(cursor))


def pids_in(path: str) -> list[int]:
    with open(path) as f:
        return [int(line) for line in f.read().split()]


def alive(pid: int) -> bool:
    """Running (not merely a zombie) and still the fixture."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except FileNotFoundError:
        return False
    return state != "Z" and b"faulty.py" in cmdline


# ---- 1. tools ---------------------------------------------------------------


@scenario
async def tools_list_and_call() -> None:
    async with toolgate() as s:
        names = [t.name for t in await list_all(pages(s, "tools"), "tools")]
        for want in ("everything__echo", "time__get_current_time"):
            check(want in names, f"{want} not listed: {names}")
        check(len(names) == len(set(names)), f"duplicate names: {names}")

        echo = await s.call_tool("everything__echo", {"message": "hi"})
        check(not echo.is_error and text_of(echo) == "Echo: hi", f"echo: {dump(echo)}")

        now = await s.call_tool("time__get_current_time", {"timezone": "UTC"})
        check(not now.is_error, f"time: {dump(now)}")
        body = json.loads(text_of(now))
        check(body.get("timezone") == "UTC" and "datetime" in body, f"time JSON: {body}")

        await assert_unknown_tool(s, "everything__no-such-tool")


@scenario
async def tools_structured_output() -> None:
    async with toolgate() as s:
        tools = {t.name: t for t in await list_all(pages(s, "tools"), "tools")}
        tool = tools["everything__get-structured-content"]
        check(tool.output_schema is not None, f"outputSchema lost: {dump(tool)}")
        check(
            set(tool.output_schema.get("required", [])) >= {"temperature", "conditions", "humidity"},
            f"outputSchema: {tool.output_schema}",
        )
        # The SDK validates structuredContent against the listed outputSchema.
        result = await s.call_tool("everything__get-structured-content", {"location": "Chicago"})
        check(not result.is_error, f"{dump(result)}")
        sc = result.structured_content
        check(isinstance(sc, dict) and {"temperature", "conditions", "humidity"} <= set(sc), f"structuredContent: {sc}")


@scenario
async def tools_metadata_matches_direct() -> None:
    """Every tool toolgate lists for server-everything is, but for its name,
    what server-everything lists to a client of the same capabilities."""
    async with session_with(os.environ["TESTBED_EVERYTHING"], []) as direct:
        want = {t.name: dump(t) for t in await list_all(pages(direct, "tools"), "tools")}
    async with toolgate() as s:
        got = {}
        for t in await list_all(pages(s, "tools"), "tools"):
            if t.name.startswith("everything__"):
                got[t.name.removeprefix("everything__")] = dump(t)
    check(sorted(got) == sorted(want), f"tool sets differ: via toolgate {sorted(got)}, direct {sorted(want)}")
    annotated = 0
    for name, direct_json in want.items():
        via = dict(got[name])
        via["name"] = name
        check(via == direct_json, f"{name} differs:\n via toolgate {json.dumps(via)}\n direct       {json.dumps(direct_json)}")
        annotated += "annotations" in direct_json
    check(annotated > 0, "server-everything listed no annotated tool: the comparison proves little")


# ---- 2. resources -----------------------------------------------------------


@scenario
async def resources_list_read_templates() -> None:
    async with session_with(os.environ["TESTBED_EVERYTHING"], []) as direct:
        want = [dump(r) for r in await list_all(pages(direct, "resources"), "resources")]
        want_templates = [dump(t) for t in await list_all(pages(direct, "resourceTemplates"), "resource_templates")]
    async with toolgate() as s:
        got = [dump(r) for r in await list_all(pages(s, "resources"), "resources")]
        check(len(got) == len(want) and len(want) > 0, f"{len(got)} resources via toolgate, {len(want)} direct")
        check(got == want, f"resources differ:\n{got}\n{want}")

        uri = got[0]["uri"]
        read = await s.read_resource(uri)
        check(len(read.contents) == 1 and str(read.contents[0].uri) == uri, f"read {uri}: {dump(read)}")
        check(bool(getattr(read.contents[0], "text", "")), f"read {uri}: no text")

        templates = [dump(t) for t in await list_all(pages(s, "resourceTemplates"), "resource_templates")]
        check(templates == want_templates, f"templates differ:\n{templates}\n{want_templates}")
        # A URI no server listed, routed by the template it fits.
        text_template = next(t for t in templates if "{resourceId}" in t["uriTemplate"] and "text" in t["uriTemplate"])
        dyn = text_template["uriTemplate"].replace("{resourceId}", "7")
        read = await s.read_resource(dyn)
        check(str(read.contents[0].uri) == dyn and "7" in read.contents[0].text, f"read {dyn}: {dump(read)}")

        try:
            await s.read_resource("nowhere://nothing")
        except MCPError as e:
            log("unknown resource:", e.code, e.message)
        else:
            raise AssertionError("reading a resource nobody offers succeeded")


@scenario
async def resources_subscribe() -> None:
    inbox = Inbox()
    logs = Inbox()
    async with toolgate(message_handler=inbox.handler, logging_callback=logs.handler) as s:
        caps = s.server_capabilities
        check(caps.resources is not None and caps.resources.subscribe, f"capabilities: {dump(caps)}")
        uri = (await s.list_resources()).resources[0].uri
        await s.subscribe_resource(uri)
        # server-everything logs the subscription without naming a logger:
        # toolgate names the server it came from.
        await logs.wait_for(
            "the log message of the subscription",
            lambda: any("Received Subscribe Resource request" in str(m.data) for m in logs.items),
        )
        entry = next(m for m in logs.items if "Received Subscribe Resource request" in str(m.data))
        check(entry.logger == "everything", f"log message: {dump(entry)}")
        updated = "notifications/resources/updated"

        def got_update() -> bool:
            return any(
                getattr(m, "method", "") == updated and str(m.params.uri) == str(uri) for m in inbox.items
            )

        # server-everything sends an update for each subscription at once when
        # its simulated updates are switched on (then every 5 s).
        on = await s.call_tool("everything__toggle-subscriber-updates", {})
        check(not on.is_error and "Started" in text_of(on), f"toggle: {dump(on)}")
        await inbox.wait_for(f"{updated} for {uri}", got_update)
        off = await s.call_tool("everything__toggle-subscriber-updates", {})
        check("Stopped" in text_of(off), f"toggle off: {dump(off)}")
        await s.unsubscribe_resource(uri)


# ---- 3. prompts -------------------------------------------------------------


@scenario
async def prompts_list_get_complete() -> None:
    async with toolgate() as s:
        prompts = {p.name: p for p in await list_all(pages(s, "prompts"), "prompts")}
        for want in ("everything__simple-prompt", "everything__args-prompt", "everything__completable-prompt"):
            check(want in prompts, f"{want} not listed: {sorted(prompts)}")
        check(all(n.startswith("everything__") for n in prompts), f"unprefixed prompt: {sorted(prompts)}")

        got = await s.get_prompt("everything__args-prompt", {"city": "Lisbon", "state": "Tejo"})
        texts = " ".join(m.content.text for m in got.messages if isinstance(m.content, types.TextContent))
        check("Lisbon" in texts, f"args-prompt: {dump(got)}")

        ref = types.PromptReference(type="ref/prompt", name="everything__completable-prompt")
        done = await s.complete(ref, {"name": "department", "value": "S"})
        check(sorted(done.completion.values) == ["Sales", "Support"], f"completion: {dump(done)}")
        # Context arguments reach the upstream too.
        done = await s.complete(ref, {"name": "name", "value": ""}, context_arguments={"department": "Engineering"})
        check(done.completion.values == ["Alice", "Bob", "Charlie"], f"completion with context: {dump(done)}")

        try:
            await s.get_prompt("everything__no-such-prompt", {})
        except MCPError as e:
            log("unknown prompt:", e.code, e.message)
        else:
            raise AssertionError("getting an unknown prompt succeeded")


# ---- 4. pagination across upstreams -----------------------------------------


@scenario
async def pagination_union() -> None:
    direct: dict[str, list[Any]] = {}
    async with session_with(os.environ["TESTBED_EVERYTHING"], []) as ev:
        direct["everything"] = [
            await list_all(pages(ev, k), f) for k, f in (("tools", "tools"), ("resources", "resources"), ("prompts", "prompts"))
        ]
    async with toolgate() as s:
        tools = [t.name for t in await list_all(pages(s, "tools"), "tools")]
        want_tools = [f"paged__t{i:02d}" for i in range(25)] + [f"everything__{t.name}" for t in direct["everything"][0]]
        check(sorted(tools) == sorted(want_tools), f"tools: {sorted(set(tools) ^ set(want_tools))}")

        # Resources and prompts come from each upstream in pages: toolgate's
        # cursor must lead through every page of both.
        resource_pages = 0
        uris: list[str] = []
        cursor = None
        while True:
            page = await s.list_resources(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
            resource_pages += 1
            uris.extend(str(r.uri) for r in page.resources)
            cursor = page.next_cursor
            if not cursor:
                break
        want_uris = [f"paged://r/{i:02d}" for i in range(25)] + [str(r.uri) for r in direct["everything"][1]]
        check(sorted(uris) == sorted(want_uris), f"resources: {sorted(uris)} != {sorted(want_uris)}")
        check(len(uris) == len(set(uris)), f"a resource listed twice: {uris}")
        check(resource_pages >= 3, f"paged.py has 3 pages of resources, toolgate gave {resource_pages}")

        prompts = [p.name for p in await list_all(pages(s, "prompts"), "prompts")]
        want_prompts = [f"paged__p{i:02d}" for i in range(12)] + [f"everything__{p.name}" for p in direct["everything"][2]]
        check(sorted(prompts) == sorted(want_prompts), f"prompts: {sorted(prompts)} != {sorted(want_prompts)}")
        check(len(prompts) == len(set(prompts)), f"a prompt listed twice: {prompts}")

        # Items of later pages work like the first.
        check(text_of(await s.call_tool("paged__t24", {})) == "t24", "paged__t24")
        read = await s.read_resource("paged://r/24")
        check(read.contents[0].text == "paged://r/24", f"{dump(read)}")
        got = await s.get_prompt("paged__p11", {})
        check("p11" in got.messages[0].content.text, f"{dump(got)}")


# ---- 5. progress ------------------------------------------------------------


async def progress_of(s: ClientSession, tool: str, args: dict[str, Any], steps: int) -> list[tuple[float, Any]]:
    seen: list[tuple[float, Any]] = []
    all_in = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))
        if len(seen) == steps:
            all_in.set()

    result = await s.call_tool(tool, args, progress_callback=on_progress)
    check(not result.is_error, f"{tool}: {dump(result)}")
    # The SDK hands each progress to its own task; wait for them to run.
    with anyio.fail_after(WAIT):
        await all_in.wait()
    return seen


@scenario
async def progress_everything() -> None:
    async with toolgate() as s:
        # The SDK's progress callback fires only for notifications that carry
        # the token it put in this request: toolgate must hand it back.
        seen = await progress_of(s, "everything__trigger-long-running-operation", {"duration": 0.6, "steps": 3}, 3)
        check(sorted(p for p, _ in seen) == [1.0, 2.0, 3.0] and all(t == 3.0 for _, t in seen), f"progress: {seen}")


@scenario
async def progress_faulty() -> None:
    async with toolgate() as s:
        seen = await progress_of(s, "faulty__slow", {"delay": 0.05}, 3)
        check(sorted(p for p, _ in seen) == [1.0, 2.0, 3.0], f"progress: {seen}")
        # Two calls at once keep their progress apart.
        a: list[Any] = []
        b: list[Any] = []
        async with anyio.create_task_group() as tg:
            async def run(into: list[Any]) -> None:
                into.extend(await progress_of(s, "faulty__slow", {"delay": 0.05}, 3))

            tg.start_soon(run, a)
            tg.start_soon(run, b)
        check(len(a) == 3 and len(b) == 3, f"concurrent progress: {a} {b}")


# ---- 6-9. misbehaving upstreams ---------------------------------------------


@scenario
async def cancel_hang() -> None:
    pid_file = os.environ["FAULTY_PID_FILE"]
    async with toolgate() as s:
        check(text_of(await s.call_tool("faulty__ok", {})) == "ok", "faulty__ok before")
        # Leaving the call's cancel scope makes the SDK send
        # notifications/cancelled. The 0.5 s only decides when the user
        # "presses stop" (the hang is then normally in faulty's hands); the
        # outcome checked below is the same whenever the cancel arrives.
        with anyio.move_on_after(0.5) as scope:
            await s.call_tool("faulty__hang", {})
        check(scope.cancelled_caught, "hang answered")
        began = time.monotonic()
        ok = await s.call_tool("faulty__ok", {})
        check(text_of(ok) == "ok", f"faulty__ok after cancel: {dump(ok)}")
        check(time.monotonic() - began < 5, "the call after a cancellation was slow")
        pids = pids_in(pid_file)
        check(len(pids) == 1 and alive(pids[0]), f"faulty restarted or died: pids {pids}")


@scenario
async def timeout_hang() -> None:
    pid_file = os.environ["FAULTY_PID_FILE"]
    async with toolgate() as s:
        began = time.monotonic()
        result = await s.call_tool("faulty__hang", {})
        took = time.monotonic() - began
        meta = toolgate_error(result)
        check(meta.get("kind") == "timeout" and meta.get("server") == "faulty", f"_meta: {meta}")
        check(bool(meta.get("hint")), f"no hint: {meta}")
        check(0.9 <= took < 10, f"timeout = 1s, but the answer took {took:.2f}s")
        check(text_of(await s.call_tool("faulty__ok", {})) == "ok", "faulty__ok after the timeout")
        pids = pids_in(pid_file)
        check(len(pids) == 1 and alive(pids[0]), f"faulty restarted or died: pids {pids}")


@scenario
async def crash_mid_call() -> None:
    pid_file = os.environ["FAULTY_PID_FILE"]
    async with toolgate() as s:
        check(text_of(await s.call_tool("faulty__ok", {})) == "ok", "faulty__ok before")
        first = pids_in(pid_file)
        check(len(first) == 1, f"pids {first}")
        began = time.monotonic()
        result = await s.call_tool("faulty__crash", {})
        took = time.monotonic() - began
        meta = toolgate_error(result)
        check(meta.get("kind") == "upstream_closed" and meta.get("server") == "faulty", f"_meta: {meta}")
        # The configured timeout is 30 s: the crash must be reported at once.
        check(took < 5, f"the crash took {took:.2f}s to report")

        # toolgate restarts it (backoff 0.5 s); until then calls say unavailable.
        deadline = time.monotonic() + WAIT
        while True:
            ok = await s.call_tool("faulty__ok", {})
            if not ok.is_error:
                break
            kind = toolgate_error(ok).get("kind")
            check(kind in ("unavailable", "upstream_closed"), f"while restarting: {dump(ok)}")
            check(time.monotonic() < deadline, f"faulty never came back: {dump(ok)}")
            await anyio.sleep(0.1)  # a bounded retry loop, not a synchronisation
        check(text_of(ok) == "ok", f"{dump(ok)}")
        pids = pids_in(pid_file)
        check(len(pids) == 2 and not alive(pids[0]) and alive(pids[1]), f"pids after restart: {pids}")


@scenario
async def garbage_on_stdout() -> None:
    async with toolgate() as s:
        result = await s.call_tool("faulty__garbage", {})
        check(not result.is_error and text_of(result) == "after garbage", f"{dump(result)}")
        check(text_of(await s.call_tool("faulty__ok", {})) == "ok", "faulty__ok after garbage")
        check(text_of(await s.call_tool("everything__echo", {"message": "still"})) == "Echo: still", "echo")


# ---- 10. list_changed ---------------------------------------------------------


@scenario
async def tools_list_changed() -> None:
    inbox = Inbox()
    changed = "notifications/tools/list_changed"
    async with toolgate(message_handler=inbox.handler) as s:

        async def names() -> set[str]:
            return {t.name for t in await list_all(pages(s, "tools"), "tools")}

        check({"dynamic__alpha", "dynamic__control"} <= await names(), "dynamic's tools")

        async def change_and_wait(action: str, present: bool) -> None:
            before = inbox.count(changed)
            r = await s.call_tool("dynamic__control", {"action": action, "name": "zeta"})
            check(not r.is_error, f"control {action}: {dump(r)}")
            # Wait for a list_changed sent after the control call, then
            # re-list; an earlier one (say, from startup) may come first.
            for _ in range(10):
                await inbox.wait_for(f"{changed} after {action}", lambda: inbox.count(changed) > before)
                before = inbox.count(changed)
                if ("dynamic__zeta" in await names()) == present:
                    return
            raise AssertionError(f"dynamic__zeta {'missing' if present else 'still listed'} after {action}")

        await change_and_wait("add", True)
        r = await s.call_tool("dynamic__zeta", {"k": 1})
        check(text_of(r) == 'zeta: {"k": 1}', f"dynamic__zeta: {dump(r)}")
        await change_and_wait("remove", False)
        await assert_unknown_tool(s, "dynamic__zeta")


# ---- 11. server-to-client requests and logging --------------------------------


@scenario
async def relay_declared() -> None:
    asked: list[str] = []

    async def sampling(ctx: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        prompt = params.messages[0].content.text
        asked.append("sampling")
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"sampled: {prompt}"),
            model="test-model",
            stop_reason="endTurn",
        )

    async def elicitation(ctx: Any, params: Any) -> types.ElicitResult:
        asked.append("elicitation")
        check(params.message == "Your name?", f"elicitation params: {dump(params)}")
        return types.ElicitResult(action="accept", content={"answer": "Ada"})

    async def roots(ctx: Any) -> types.ListRootsResult:
        asked.append("roots")
        return types.ListRootsResult(
            roots=[types.Root(uri="file:///work/a", name="a"), types.Root(uri="file:///work/b")]
        )

    async with toolgate(sampling_callback=sampling, elicitation_callback=elicitation, list_roots_callback=roots) as s:
        r = await s.call_tool("relay__ask_sampling", {"prompt": "ping"})
        check(not r.is_error and text_of(r) == "sampled: ping", f"sampling: {dump(r)}")
        r = await s.call_tool("relay__ask_elicit", {"message": "Your name?"})
        check(not r.is_error and text_of(r) == "Ada", f"elicitation: {dump(r)}")
        r = await s.call_tool("relay__ask_roots", {})
        check(not r.is_error and text_of(r) == "file:///work/a,file:///work/b", f"roots: {dump(r)}")
        # Two relayed requests at once are answered each to its own caller.
        results: dict[str, str] = {}
        async with anyio.create_task_group() as tg:
            async def ask(prompt: str) -> None:
                results[prompt] = text_of(await s.call_tool("relay__ask_sampling", {"prompt": prompt}))

            tg.start_soon(ask, "one")
            tg.start_soon(ask, "two")
        check(results == {"one": "sampled: one", "two": "sampled: two"}, f"concurrent sampling: {results}")
    check(asked.count("sampling") == 3 and "elicitation" in asked and "roots" in asked, f"callbacks: {asked}")


@scenario
async def relay_everything() -> None:
    """server-everything's own sampling, elicitation and roots requests, and
    the client's roots/list_changed forwarded to it."""
    roots_asked = Inbox()  # one item per roots/list the client answered
    roots = [types.Root(uri="file:///work/one", name="one")]

    async def list_roots(ctx: Any) -> types.ListRootsResult:
        await roots_asked.handler(types.ListRootsResult(roots=list(roots)))
        return types.ListRootsResult(roots=list(roots))

    async def sampling(ctx: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"sampled: {params.messages[0].content.text}"),
            model="test-model",
        )

    async def elicitation(ctx: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with toolgate(sampling_callback=sampling, elicitation_callback=elicitation, list_roots_callback=list_roots) as s:
        names = {t.name for t in await list_all(pages(s, "tools"), "tools")}
        for want in ("everything__trigger-sampling-request", "everything__trigger-elicitation-request", "everything__get-roots-list"):
            check(want in names, f"{want} not listed (toolgate must mirror the client's capabilities): {sorted(names)}")
        # server-everything asks for the roots right after its initialize.
        await roots_asked.wait_for("roots/list from server-everything", lambda: len(roots_asked.items) >= 1)

        r = await s.call_tool("everything__trigger-sampling-request", {"prompt": "hello"})
        check(not r.is_error and "sampled: Resource trigger-sampling-request context: hello" in text_of(r), f"{dump(r)}")
        r = await s.call_tool("everything__trigger-elicitation-request", {})
        check(not r.is_error and "declined" in text_of(r), f"{dump(r)}")
        r = await s.call_tool("everything__get-roots-list", {})
        check("file:///work/one" in text_of(r), f"{dump(r)}")

        # The client's roots change: server-everything asks again.
        before = len(roots_asked.items)
        roots.append(types.Root(uri="file:///work/two", name="two"))
        await s.send_roots_list_changed()
        await roots_asked.wait_for("roots/list after roots/list_changed", lambda: len(roots_asked.items) > before)


@scenario
async def relay_undeclared() -> None:
    # No callbacks: the client declares no sampling, elicitation or roots.
    async with toolgate() as s:
        caps = dump(s.initialize_result)
        log("initialize:", json.dumps(caps)[:200])
        for tool, method in (
            ("relay__ask_sampling", "sampling/createMessage"),
            ("relay__ask_elicit", "elicitation/create"),
            ("relay__ask_roots", "roots/list"),
        ):
            with anyio.fail_after(10):  # an error, not a hang
                r = await s.call_tool(tool, {})
            check(r.is_error is True and text_of(r).startswith(f"{method} failed: -32601"), f"{tool}: {dump(r)}")
        check(text_of(await s.call_tool("relay__ask_log", {})) == "logged", "relay still serves")


@scenario
async def logging_relayed() -> None:
    logs: list[types.LoggingMessageNotificationParams] = []
    got = anyio.Event()

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)
        if params.data == "hello from the test":
            got.set()

    async with toolgate(logging_callback=on_log) as s:
        await s.set_logging_level("info")
        r = await s.call_tool("relay__ask_log", {"message": "hello from the test"})
        check(text_of(r) == "logged", f"{dump(r)}")
        with anyio.fail_after(WAIT):
            await got.wait()
    mine = [entry for entry in logs if entry.data == "hello from the test"]
    check(len(mine) == 1 and mine[0].level == "info" and mine[0].logger == "relay", f"logs: {[dump(x) for x in logs]}")


# ---- main -------------------------------------------------------------------


@scenario
async def approval_by_elicitation() -> None:
    """A step-up call asked in the IDE (form elicitation, enabled by the
    policy): allowed, declined, and answered "deny"."""
    answers = [("accept", "allow"), ("decline", None), ("accept", "deny")]
    asked: list[str] = []

    async def elicitation(ctx: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        check("big" in params.message and "faulty" in params.message, f"message: {params.message!r}")
        check('"size": 150' in params.message, f"arguments not shown: {params.message!r}")
        action, decision = answers[len(asked) - 1]
        return types.ElicitResult(action=action, content={"decision": decision} if decision else None)

    async with toolgate(elicitation_callback=elicitation) as s:
        r = await s.call_tool("faulty__big", {"size": 150})
        check(not r.is_error and text_of(r) == "x" * 150, f"allowed in the IDE: {dump(r)}")
        for _ in range(2):
            r = await s.call_tool("faulty__big", {"size": 150})
            meta = toolgate_error(r)
            check(meta["kind"] == "step_up_denied", f"denied in the IDE: {dump(r)}")
    check(len(asked) == 3, f"asked {len(asked)} times")


async def run(name: str) -> None:
    with anyio.fail_after(90):
        await SCENARIOS[name]()


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print(f"usage: py_client.py SCENARIO  ({', '.join(SCENARIOS)})", file=sys.stderr)
        return 2
    name = sys.argv[1]
    try:
        anyio.run(run, name)
    except BaseException:  # noqa: BLE001 - report everything, including groups
        traceback.print_exc()
        print(f"py_client: scenario {name} FAILED", file=sys.stderr)
        return 1
    print(f"ok {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
