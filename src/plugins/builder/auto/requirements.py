# Writes the requirement lines of a pyproject.toml, Pipfile.lock or Pipfile
# for pip, so berth's zero-config builder installs dependencies before the
# app's code is copied. Usage: python3 requirements.py APP_DIR OUT_FILE
import json
import pathlib
import sys
import tomllib

root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
lines = []


def pipfile_spec(name, spec):
    if isinstance(spec, str):
        return name if spec == "*" else name + spec
    version = spec.get("version", "*")
    extras = ",".join(spec.get("extras", []))
    name = f"{name}[{extras}]" if extras else name
    return name if version == "*" else name + version


if (root / "pyproject.toml").exists():
    data = tomllib.loads((root / "pyproject.toml").read_text())
    lines += data.get("project", {}).get("dependencies", [])
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    # Poetry's ^ and ~ ranges are not pip's: install the newest release.
    lines += [name for name in poetry if name.lower() != "python"]
elif (root / "Pipfile.lock").exists():
    data = json.loads((root / "Pipfile.lock").read_text())
    for name, spec in data.get("default", {}).items():
        lines.append(name + spec.get("version", ""))
elif (root / "Pipfile").exists():
    data = tomllib.loads((root / "Pipfile").read_text())
    for name, spec in data.get("packages", {}).items():
        lines.append(pipfile_spec(name, spec))

out.write_text("".join(line + "\n" for line in lines))
print(f"{len(lines)} requirements read")
