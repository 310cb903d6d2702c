#!/usr/bin/env bash
# `make audit`: known vulnerabilities in every Python package installed in .venv, which after
# `scripts/install.sh --test` is the full resolved set (constraints.txt, runtime + test
# tooling, plus pip, setuptools and wheel). pip-audit runs from its own venv
# (build/audit-venv, pins in scripts/audit/requirements.txt). It asks the PyPI service
# first and OSV when PyPI could not audit the packages. The report goes to stdout and to
# scripts/audit/pip-audit-<date>.txt (commit it). Exit 0: audited, nothing known; 1: known
# vulnerabilities (see the README's Security section for which apply); 2: no service answered.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=build/audit-venv
want=$(sha256sum scripts/audit/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install -q -r scripts/audit/requirements.txt
  echo "$want" > "$venv/.installed"
fi

mkdir -p build
freeze=build/audit-freeze.txt
.venv/bin/python -m pip freeze --all --exclude-editable > "$freeze"
out=scripts/audit/pip-audit-$(date +%F).txt

for service in pypi osv; do
  # --no-deps --disable-pip: audit exactly the frozen versions, resolve nothing.
  "$venv/bin/pip-audit" -r "$freeze" --no-deps --disable-pip --progress-spinner off \
    -s "$service" --aliases on --desc off -f json -o "build/audit-$service.json" \
    >/dev/null 2>"build/audit-$service.log" || true
done

"$venv/bin/python" - "$freeze" "$out" <<'PY'
import datetime, json, pathlib, subprocess, sys
freeze, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
pins = [l for l in freeze.read_text().splitlines() if l and not l.startswith("#")]
version = subprocess.run(["build/audit-venv/bin/pip-audit", "--version"], capture_output=True, text=True).stdout.strip()
lines = [f"# pip-audit of .venv ({len(pins)} packages from `pip freeze --all`), {datetime.date.today()}",
         f"# {version}; command: make audit (scripts/audit/run.sh)", ""]
status = 2
for service in ("pypi", "osv"):
    report = pathlib.Path(f"build/audit-{service}.json")
    log = pathlib.Path(f"build/audit-{service}.log").read_text(errors="replace").strip().splitlines()
    lines.append(f"## service {service}")
    deps = json.loads(report.read_text())["dependencies"] if report.exists() and report.stat().st_size else []
    audited = [d for d in deps if "skip_reason" not in d]
    skipped = [d for d in deps if "skip_reason" in d]
    if not audited:
        if skipped:
            lines.append(f"NOT AUDITED: the service answered for none of the {len(pins)} packages "
                         f"(all {len(skipped)} skipped).")
            lines += [f"  skip reason: {r}" for r in sorted({d["skip_reason"].split(":")[0] for d in skipped})]
        else:
            lines.append(f"NOT AUDITED: no answer from the service for the {len(pins)} packages.")
        errors = [l.strip() for l in log if "Error" in l][-1:]
        lines += [f"  {l}" for l in errors]
        lines.append("")
        continue
    vulns = [(d["name"], d["version"], v) for d in audited for v in d.get("vulns", [])]
    lines.append(f"{len(audited)} packages audited, {len(skipped)} skipped, "
                 f"{len(vulns)} known vulnerabilities in {len({n for n, _, _ in vulns})} packages")
    lines += [f"  skipped {d['name']} {d.get('version', '')}: {d['skip_reason']}" for d in skipped]
    lines.append(f"{'package':28} {'version':14} {'id':22} {'aliases':40} fixed in")
    for name, ver, v in sorted(vulns):
        lines.append(f"{name:28} {ver:14} {v['id']:22} {','.join(v.get('aliases', [])):40} {','.join(v.get('fix_versions', []))}")
    lines.append("")
    status = 1 if vulns else 0
    break
out.write_text("\n".join(lines) + "\n")
print("\n".join(lines))
print(f"written to {out}")
sys.exit(status)
PY
