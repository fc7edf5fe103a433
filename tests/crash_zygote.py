"""Starts bots for the crash tests: ``python -m bot`` as a forked child, without its imports.

Importing the Anthropic SDK takes seconds; twenty crash-and-restart runs would spend minutes on
it. This process imports the bot once, then forks one real bot process (running exactly
``bot.__main__.main``) per line it reads: a JSON object of environment variables, plus
``LOG_PATH`` for the child's output. It answers each line with the child's pid. Children are
reaped automatically, so a SIGKILLed bot leaves no zombie.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import bot.__main__
import scriptgen.providers.anthropic  # noqa: F401  (the slow import, done once)

signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for line in sys.stdin:
    env = json.loads(line)
    pid = os.fork()
    if pid == 0:
        log = os.open(env.pop("LOG_PATH"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.environ.clear()
        os.environ.update(env)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        code = 1
        try:
            bot.__main__.main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            os._exit(code)
    print(pid, flush=True)
