"""Stand-in management commands."""
import os
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["build-static"]:
        out = sys.argv[sys.argv.index("--out") + 1]
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as handle:
            handle.write("{}\n")
    print("ok", sys.argv[1:])
