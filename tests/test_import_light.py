from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "monai", "matplotlib")
LIGHT_MODULES = ("cellbundles", "cellbundles.io", "cellbundles.data", "cellbundles.synth", "cellbundles.metrics")
LIGHT_MODULES += ("cellbundles.postprocess", "cellbundles.utils")


def _loaded_after_import(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_light_packages_do_not_import_torch_monai_or_matplotlib():
    loaded = _loaded_after_import("import " + ", ".join(LIGHT_MODULES))
    assert set(LIGHT_MODULES) <= loaded
    heavy = sorted(name for name in loaded if name.split(".")[0] in HEAVY)
    assert not heavy, f"importing {LIGHT_MODULES} loaded {heavy[:10]}"

