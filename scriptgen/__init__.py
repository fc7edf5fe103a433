"""scriptgen: sitcom episodes written in parallel by a language model. Knows nothing of Discord.

from scriptgen import EpisodeRequest, ScriptGenerator, make_provider, render

generator = ScriptGenerator(make_provider("demo"), max_parallel_scenes=3)
script = await generator.generate_full_script(EpisodeRequest(premise="...", scene_count=4))
fountain = await render(script, "fountain")
"""

from scriptgen.bible import BibleError
from scriptgen.checkpoints import Checkpoints, CheckpointWriter, MemoryCheckpoints, StoredStep
from scriptgen.errors import (
    ConfigurationError,
    InvalidOutputError,
    ProviderError,
    ScriptgenError,
    StepFailedError,
)
from scriptgen.generator import ScriptGenerator
from scriptgen.limiter import FairLimiter
from scriptgen.models import (
    Character,
    ComedyReport,
    EpisodeRequest,
    EpisodeSummary,
    Outline,
    Scene,
    Script,
    SeriesBible,
    UsageTotals,
)
from scriptgen.outline_text import OutlineTextError
from scriptgen.pricing import estimate_cost
from scriptgen.progress import (
    EpisodeProgress,
    ProgressCallback,
    RewriteProgress,
    SceneState,
    Stage,
)
from scriptgen.providers import DemoProvider, Provider, make_provider
from scriptgen.render import FORMATS, Format, filename_for, render
from scriptgen.rewrite import RewriteTake

__all__ = [
    "FORMATS",
    "BibleError",
    "Character",
    "CheckpointWriter",
    "Checkpoints",
    "ComedyReport",
    "ConfigurationError",
    "DemoProvider",
    "EpisodeProgress",
    "EpisodeRequest",
    "EpisodeSummary",
    "FairLimiter",
    "Format",
    "InvalidOutputError",
    "MemoryCheckpoints",
    "Outline",
    "OutlineTextError",
    "ProgressCallback",
    "Provider",
    "ProviderError",
    "RewriteProgress",
    "RewriteTake",
    "Scene",
    "SceneState",
    "Script",
    "ScriptGenerator",
    "ScriptgenError",
    "SeriesBible",
    "Stage",
    "StepFailedError",
    "StoredStep",
    "UsageTotals",
    "estimate_cost",
    "filename_for",
    "make_provider",
    "render",
]
