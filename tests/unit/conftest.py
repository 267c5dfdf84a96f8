"""Make the project's module_utils importable as Ansible makes them for modules (ansible.module_utils.<name>)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import ansible.module_utils

MODULE_UTILS = Path(__file__).resolve().parents[2] / "plugins" / "module_utils"
MODULES = Path(__file__).resolve().parents[2] / "plugins" / "modules"

for _path in sorted(MODULE_UTILS.glob("*.py")):
    _name = f"ansible.module_utils.{_path.stem}"
    if _name not in sys.modules:
        _spec = importlib.util.spec_from_file_location(_name, _path)
        assert _spec and _spec.loader
        _module = importlib.util.module_from_spec(_spec)
        sys.modules[_name] = _module
        _spec.loader.exec_module(_module)
        setattr(ansible.module_utils, _path.stem, _module)

if str(MODULES) not in sys.path:
    sys.path.insert(0, str(MODULES))
