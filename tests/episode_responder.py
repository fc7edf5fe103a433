"""A fake-Anthropic responder that answers every step of an episode validly.

Schema-filled answers are valid JSON for the tool, but an outline must also have exactly the
scenes asked for (a rule the schema cannot state): this responder reads that from the prompt.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fake_anthropic import SchemaResponder, forced_tool, last_user_text

JSON = Any


class EpisodeResponder(SchemaResponder):
    def __call__(self, body: JSON) -> JSON:
        value = super().__call__(body)
        if forced_tool(body) == "write_outline":
            count = re.search(r"exactly (\d+) scene", last_user_text(body))
            assert count is not None, "the outline prompt names the scene count"
            n = int(count.group(1))
            scenes = value["scenes"]
            value["scenes"] = [scenes[i % len(scenes)] for i in range(n)]
        return value
