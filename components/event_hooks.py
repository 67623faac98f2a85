"""`[event_hook <name>]`: OctoPrint's event hooks, running G-code or shell commands on events."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import inspect
import json
import os
import re
import shlex
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field

from moonlite.component import Component
from moonlite.config import ConfigError, SectionModel, validate_section
from moonlite.events import Events, Payload

DEFAULT_TIMEOUT = 60.0
#: output kept (and logged) per hook run; the rest is read and dropped
MAX_OUTPUT = 64 * 1024
#: finished runs kept for inspection
RESULTS_KEPT = 100
#: runs of one hook at the same time; an event beyond that is skipped (and logged), so a hook
#: slower than its event (e.g. ZChange) cannot pile up processes without bound
MAX_RUNS_PER_HOOK = 8
#: how long hooks of the Shutdown event may still run while moonlite stops
SHUTDOWN_GRACE = 5.0
NO_FILE = "NO FILE"
#: `{{` and `}}` are literal braces (str.format's rule); `{key}` or `{a.b.c}` is a placeholder;
#: anything with spaces or nested braces (shell `{ a; b; }`, awk `{print $1}`) is left alone
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}\s]+)\}")
#: events whose payload describes the selected file, used when no printer can tell
FILE_EVENTS = {Events.PRINT_STARTED, Events.PRINT_DONE, Events.PRINT_FAILED,
               Events.PRINT_CANCELLED, Events.PRINT_PAUSED, Events.PRINT_RESUMED,
               Events.FILE_SELECTED}
KNOWN_EVENTS = {str(e) for e in Events}


class EventHooksConfig(SectionModel):
    """The `[event_hooks]` section: the global switch."""

    enabled: bool = True


class HookConfig(SectionModel):
    """One `[event_hook <name>]` section."""

    event: str
    command: str
    type: Literal["system", "gcode"]
    enabled: bool = True
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0, description="seconds")


@dataclass
class Hook:
    """A configured hook: which event, what to run, how."""

    name: str
    event: str
    kind: Literal["system", "gcode"]
    commands: list[str]
    timeout: float
    enabled: bool = True


@dataclass
class HookRun:
    """What one run of a hook did."""

    hook: str
    event: str
    kind: str
    commands: list[str] = field(default_factory=list)  # as rendered
    returncodes: list[int] = field(default_factory=list)
    output: str = ""
    timed_out: bool = False
    error: str | None = None
    started: float = field(default_factory=time.time)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """Finished in time, without error, every command exiting 0."""
        return not self.timed_out and self.error is None and not any(self.returncodes)


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def lookup(key: str, values: dict[str, Any], payload: Payload) -> tuple[bool, Any]:
    """The value of a placeholder: a generic one, a payload key, or a dotted path into it."""
    if key in values:
        return True, values[key]
    if key in payload:
        return True, payload[key]
    node: Any = payload
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


#: turns a substituted value into text safe at its place; `before` is the template text
#: that precedes the placeholder (the shell quoting state there matters)
Quoter = Callable[[str, str], str]


def render(template: str, values: dict[str, Any], payload: Payload, quote: Quoter) -> str:
    """Substitute the placeholders of `template`; every substituted value goes through `quote`.

    Unknown placeholders stay as written, so shell `${VAR}` keeps working.
    """

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        found, value = lookup(match.group(1), values, payload)
        return quote(_text(value), template[:match.start()]) if found else token

    return PLACEHOLDER.sub(substitute, template)


def shell_state(before: str) -> str:
    """The /bin/sh quoting state at the end of `before`: "" (unquoted), "'" or '"'."""
    state = ""
    escaped = False
    for char in before:
        if escaped:
            escaped = False
        elif state == "'":
            state = "" if char == "'" else state
        elif char == "\\":
            escaped = True
        elif state == '"':
            state = "" if char == '"' else state
        elif char in "'\"":
            state = char
    return state


_DOUBLE_QUOTED_SPECIAL = re.compile(r'([$`"\\])')


def shell_quote(text: str, before: str = "") -> str:
    """Quote a value for /bin/sh: whatever it holds, it stays data, never code.

    Outside quotes it becomes one word (`shlex.quote`). A placeholder the config wrote inside
    quotes (`"{name}"`, `'{name}'`) is escaped for that context instead: `shlex.quote` there
    would leave `$(...)` inside double quotes live.
    """
    state = shell_state(before)
    if state == "'":
        return text.replace("'", "'\\''")
    if state == '"':
        return _DOUBLE_QUOTED_SPECIAL.sub(r"\\\1", text)
    return shlex.quote(text)


def gcode_value(text: str, before: str = "") -> str:
    """A value inside a G-code line: line breaks would start new commands, so they go."""
    return text.replace("\r", " ").replace("\n", " ")


class EventHooks(Component):
    """Runs the configured hooks on their events, each run its own task, never blocking the bus.

    Reads the printer component's `get_current_data()` (OctoPrint's PrinterInterface, seed
    001: `currentZ`, `job.file.{name, path, origin}`, `progress.completion`) when it is loaded,
    and sends G-code with `await printer.commands([...])`.
    """

    name = "event_hooks"
    Config = EventHooksConfig
    #: the loader maps `[event_hook <name>]` sections to this component
    extra_sections: ClassVar[tuple[str, ...]] = ("event_hook",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hooks: list[Hook] = []
        for section in self.host.config.of_kind("event_hook"):
            try:
                self.hooks.append(self._hook_from(section.instance, section))
            except ConfigError as exc:
                # a bad hook is reported and skipped; the others still run
                self.host.warn(f"event hook not loaded: {exc}")
        self.enabled = bool(self.config.enabled)
        self.results: collections.deque[HookRun] = collections.deque(maxlen=RESULTS_KEPT)
        self._watchers: list[asyncio.Queue[HookRun]] = []
        #: runs in progress: (event, hook name) of each
        self._tasks: dict[asyncio.Task[None], tuple[str, str]] = {}
        self._per_hook: dict[str, int] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    def _hook_from(self, name: str, section: Any) -> Hook:
        if not name:
            raise ConfigError(f"{section.where()}: an event hook needs a name: "
                              "[event_hook <name>]")
        cfg = validate_section(HookConfig, section)
        commands = [line.strip() for line in cfg.command.splitlines() if line.strip()]
        if not commands:
            raise ConfigError(f"{section.where('command')}: no command")
        if cfg.event not in KNOWN_EVENTS:
            self.host.warn(f"{section.where('event')}: '{cfg.event}' is not one of "
                           "moonlite's events (only a plugin could fire it)")
        if not cfg.enabled:
            self.log.info("event hook %s is disabled", name)
        return Hook(name, cfg.event, cfg.type, commands, cfg.timeout, cfg.enabled)

    @property
    def active(self) -> list[Hook]:
        """The hooks that run (enabled, and hooks globally enabled)."""
        return [h for h in self.hooks if h.enabled] if self.enabled else []

    @property
    def running(self) -> int:
        """How many hook runs are in progress."""
        return len(self._tasks)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Subscribe to the hooks' events; on the way out, stop what is still running."""
        if not self.enabled:
            self.log.info("event hooks are disabled ([event_hooks] enabled: False)")
        for event in dict.fromkeys(h.event for h in self.active):
            self._unsubscribe.append(
                self.host.events.subscribe(event, self._on_event, name=f"event_hooks:{event}"))
        try:
            yield
        finally:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            # the Shutdown event's hooks are what one wants to run now: give them a moment
            closing = [t for t, (event, _) in self._tasks.items() if event == Events.SHUTDOWN]
            if closing:
                await asyncio.wait(closing, timeout=SHUTDOWN_GRACE)
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=10)

    # -- dispatch -------------------------------------------------------------------------

    def _on_event(self, event: str, payload: Payload) -> None:
        # Synchronous: the values are taken at event time and every run is its own task,
        # so a slow hook delays neither the bus nor the next event's hooks.
        values = self.generic_values(event, payload)
        for hook in self.active:
            if hook.event != event:
                continue
            if self._per_hook.get(hook.name, 0) >= MAX_RUNS_PER_HOOK:
                self.log.warning("event hook %s: %d runs still in progress, %s skipped",
                                 hook.name, MAX_RUNS_PER_HOOK, event)
                self._publish(HookRun(hook.name, event, hook.kind,
                                      error="skipped: too many runs in progress"))
                continue
            task = asyncio.get_running_loop().create_task(
                self._run(hook, event, payload, values), name=f"event_hook:{hook.name}")
            self._tasks[task] = (event, hook.name)
            self._per_hook[hook.name] = self._per_hook.get(hook.name, 0) + 1
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        _, hook_name = self._tasks.pop(task, ("", ""))
        self._per_hook[hook_name] = self._per_hook.get(hook_name, 1) - 1

    def generic_values(self, event: str, payload: Payload) -> dict[str, Any]:
        """The `{__...}` placeholders for an event happening now."""
        data = _printer_value(self.host.get_component("printer"), "get_current_data")
        data = data if isinstance(data, dict) else {}
        job = data.get("job")
        selected = job.get("file") if isinstance(job, dict) else None
        if not (isinstance(selected, dict) and selected.get("name")):
            # no printer, or it has no file: the print events' payloads name theirs
            selected = payload if event in FILE_EVENTS and "path" in payload else {}
        progress = data.get("progress")
        completion: Any = progress.get("completion") if isinstance(progress, dict) else None
        z = data.get("currentZ")
        return {
            "__currentZ": z if _is_number(z) else -1,
            "__filename": selected.get("name") or NO_FILE,
            "__filepath": selected.get("path") or NO_FILE,
            "__fileorigin": selected.get("origin") or NO_FILE,
            "__progress": int(completion) if _is_number(completion) else 0,
            "__data": json.dumps(payload, default=str),
            "__now": datetime.datetime.now().astimezone().isoformat(),
        }

    async def _run(self, hook: Hook, event: str, payload: Payload,
                   values: dict[str, Any]) -> None:
        run = HookRun(hook.name, event, hook.kind)
        quote = shell_quote if hook.kind == "system" else gcode_value
        try:
            run.commands = [render(c, values, payload, quote) for c in hook.commands]
            async with asyncio.timeout(hook.timeout):
                if hook.kind == "gcode":
                    await self._send_gcode(run.commands)
                else:
                    for command in run.commands:
                        await self._run_system(command, run)
        except TimeoutError:
            run.timed_out = True
            self.log.warning("event hook %s (%s) timed out after %.1f s and was stopped",
                             hook.name, event, hook.timeout)
        except asyncio.CancelledError:
            run.error = "cancelled (shutdown)"
            raise
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {exc}"
            self.log.warning("event hook %s (%s) failed: %s", hook.name, event, run.error)
        finally:
            run.duration = time.time() - run.started
            self._publish(run)
        if run.output:
            self.log.info("event hook %s (%s) output: %s", hook.name, event,
                          run.output[:2000].rstrip())
        if any(run.returncodes):
            self.log.warning("event hook %s (%s) exited with %s", hook.name, event,
                             run.returncodes)

    async def _send_gcode(self, lines: list[str]) -> None:
        printer = self.host.get_component("printer")
        send = getattr(printer, "commands", None)
        if send is None:
            raise RuntimeError("no printer component to send G-code to")
        await send(lines)

    async def _run_system(self, command: str, run: HookRun) -> None:
        # The configured text is trusted; the substituted values were quoted by render().
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=self.host.paths.data, start_new_session=True,
        )
        kept = bytearray()
        room = MAX_OUTPUT - len(run.output)
        try:
            assert proc.stdout is not None
            # read to the end (a full pipe would stall the command), keep the first part
            while chunk := await proc.stdout.read(4096):
                if len(kept) < room:
                    kept += chunk[: room - len(kept)]
            run.returncodes.append(await proc.wait())
        except BaseException:
            # timeout, shutdown or error: the whole process group goes, children included
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
            if proc.returncode is not None:
                run.returncodes.append(proc.returncode)
            raise
        finally:
            run.output += kept.decode("utf-8", "replace")

    # -- results --------------------------------------------------------------------------

    async def idle(self) -> None:
        """Wait until every run started so far has finished (tests, tools)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def _publish(self, run: HookRun) -> None:
        self.results.append(run)
        for queue in self._watchers:
            queue.put_nowait(run)

    def watch(self) -> asyncio.Queue[HookRun]:
        """A queue that receives every run finished from now on (until `unwatch`)."""
        queue: asyncio.Queue[HookRun] = asyncio.Queue()
        self._watchers.append(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[HookRun]) -> None:
        """Stop feeding a queue from `watch`."""
        if queue in self._watchers:
            self._watchers.remove(queue)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _printer_value(printer: Any, attr: str) -> Any:
    """An attribute (or the result of a method) of the printer component; None when absent."""
    if printer is None:
        return None
    try:
        value = getattr(printer, attr, None)
        if callable(value):
            value = value()
        if inspect.isawaitable(value):
            # placeholders are taken synchronously at event time; an async getter is unusable
            if inspect.iscoroutine(value):
                value.close()
            return None
        return value
    except Exception:
        return None


COMPONENT = EventHooks
