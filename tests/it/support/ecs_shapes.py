"""Checks the ECS double's answers against botocore's ECS service model.

Usage: ecs_shapes.py ANSWERS.json, where the file holds [[operation, body], ...]. Every member of a
successful answer must exist in the operation's output shape, with the right JSON type; every enum
value must be allowed. Error answers must carry `__type` and `message`. Exit 1 with every problem.
"""

import gzip
import json
import os
import sys

import botocore

MODEL = os.path.join(os.path.dirname(botocore.__file__), "data", "ecs", "2014-11-13", "service-2.json.gz")


def check(shapes, name, value, path, problems):
    shape = shapes[name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: {name} wants an object, got {value!r}")
            return
        if shape.get("document"):
            return
        for key, member in value.items():
            if key not in shape["members"]:
                problems.append(f"{path}.{key}: not a member of {name}")
                continue
            check(shapes, shape["members"][key]["shape"], member, f"{path}.{key}", problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: {name} wants a list, got {value!r}")
            return
        for i, item in enumerate(value):
            check(shapes, shape["member"]["shape"], item, f"{path}[{i}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: {name} wants a map, got {value!r}")
            return
        for k, item in value.items():
            check(shapes, shape["value"]["shape"], item, f"{path}[{k}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: {name} wants a string, got {value!r}")
        elif "enum" in shape and value not in shape["enum"]:
            problems.append(f"{path}: {value!r} is not one of {name} {shape['enum']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: {name} wants an integer, got {value!r}")
    elif kind in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: {name} wants a number, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: {name} wants a boolean, got {value!r}")
    elif kind == "timestamp":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: {name} wants epoch seconds, got {value!r}")
    else:
        problems.append(f"{path}: {name} has a type this check does not know: {kind}")


def main():
    model = json.load(gzip.open(MODEL))
    shapes, operations = model["shapes"], model["operations"]
    answers = json.load(open(sys.argv[1]))
    problems = []
    for i, (op, body) in enumerate(answers):
        if "__type" in body:
            if set(body) != {"__type", "message"}:
                problems.append(f"{op}#{i}: an error answer with {sorted(body)}")
            continue
        if op not in operations:
            problems.append(f"{op}: not an ECS operation")
            continue
        check(shapes, operations[op]["output"]["shape"], body, f"{op}#{i}", problems)
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"checked {len(answers)} answers")


main()
