"""Build-time helper run by ``airlock build`` with the toolchain's Python (outside any
component): ``python -m airlock_sdk._build MODULE`` imports the plugin module and prints
the WIT world its plugin class needs (``tool-plugin``, ``hook-plugin`` or ``plugin``, with
``-http`` when the module imports :mod:`airlock_sdk.http`: that world adds
``wasi:http/outgoing-handler``), after deriving every tool schema so mistakes surface
before the slow componentize step."""

import importlib
import sys

from .plugin import registered_plugin, world_of


def main(module: str) -> int:
    importlib.import_module(module)
    cls = registered_plugin()
    if not hasattr(cls, "metadata"):
        print(f"error: {cls.__name__} has no `metadata = Metadata(...)`", file=sys.stderr)
        return 1
    cls.tool_specs()
    http = "-http" if "airlock_sdk.http" in sys.modules else ""
    print(world_of(cls) + http)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
