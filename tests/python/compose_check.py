"""Checks docker-compose.yml without a Docker engine: every lakeseal command names a real
subcommand with real flags (asked of the binary's --help), and every mounted file exists.
Run by tests/it/compose.rs with LAKESEAL (the binary) and REPO. Prints one line a check."""
import os
import subprocess
import sys

import yaml

repo, lakeseal = os.environ["REPO"], os.environ["LAKESEAL"]
compose = yaml.safe_load(open(os.path.join(repo, "docker-compose.yml")))
global_flags = {"--data-dir", "--output", "--log-format"}
failures = []
for name, service in compose["services"].items():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            path = os.path.join(repo, source)
            print(f"{name}: mount {source}", "ok" if os.path.exists(path) else "MISSING")
            if not os.path.exists(path):
                failures.append(f"{name} mounts {source}, which does not exist")
    if service.get("build") != "." or "command" not in service:
        continue
    command = service["command"]
    words, flags, i = [], [], 0
    while i < len(command):
        token = command[i]
        if token.startswith("--"):
            flags.append(token)
            i += 2  # every flag here takes a value
        else:
            words.append(token)
            i += 1
    result = subprocess.run([lakeseal, *words, "--help"], capture_output=True, text=True)
    if result.returncode != 0:
        failures.append(f"{name}: `lakeseal {' '.join(words)}` is not a subcommand")
        continue
    unknown = [f for f in flags if f not in result.stdout and f not in global_flags]
    failures += [f"{name}: `lakeseal {' '.join(words)}` has no {f}" for f in unknown]
    print(f"{name}: lakeseal {' '.join(words)} {' '.join(flags)}", "UNKNOWN FLAG" if unknown else "ok")
if failures:
    print("\n".join(failures))
    sys.exit(1)
