"""Grader of the null task: reports the number in answer.txt as `Score`.

It reads the number as text and never imports or runs anything from the workspace,
so it costs one interpreter start-up and a file read.
"""

import json
import math
import os
import sys


def main() -> int:
    nonce = sys.stdin.readline().strip()
    if not nonce:
        print("No nonce on stdin: run `validate` instead.", file=sys.stderr)
        return 1
    try:
        # Graders run with cwd `/`; the env names the workspace (docs/grading.md).
        workspace = os.environ.get("MLGYM_WORKSPACE", ".")
        with open(os.path.join(workspace, "answer.txt"), encoding="utf-8") as f:
            score = float(f.read(64).strip())
    except (OSError, ValueError) as err:
        print(f"answer.txt must hold one number: {err}", file=sys.stderr)
        return 1
    if not math.isfinite(score):
        print("answer.txt must hold a finite number", file=sys.stderr)
        return 1
    sys.stdout.write(f"MLGYM-METRICS {nonce} {json.dumps({'Score': score})}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
