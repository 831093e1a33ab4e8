"""A minimal Airbyte-protocol connector for behaviour the connectors of this repository do not show: stray output,
a silent death, a slow read, odd number text, a destination that echoes STATEs without `destinationStats`.

Run as `python fake_connector.py COMMAND --config ... [--catalog ...]`; `config["mode"]` picks the behaviour.
"""

import json
import sys
import time


def out(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def record(data: dict) -> None:
    out({"type": "RECORD", "record": {"stream": "s1", "emitted_at": 1, "data": data}})


def state(value: int) -> None:
    stream = {"stream_descriptor": {"name": "s1"}, "stream_state": {"id": value}}
    out({"type": "STATE", "state": {"type": "STREAM", "stream": stream}})


def main() -> None:
    command, args = sys.argv[1], dict(zip(sys.argv[2::2], sys.argv[3::2], strict=False))
    config = {}
    if "--config" in args:
        with open(args["--config"]) as handle:
            config = json.load(handle)
    mode, token = config.get("mode"), config.get("token", "")
    if command == "spec":
        out({"type": "SPEC", "spec": {"connectionSpecification": {"type": "object", "properties": {}}}})
    elif command == "check" and mode == "die":
        sys.stderr.write(f"connecting with {token}\n" + "y" * 990 + "\n")
        sys.exit(3)
    elif command == "check":
        if mode == "stray":
            print("z" * 180 + f" token={token}")
        out({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}})
    elif command == "discover":
        properties = {"id": {"type": "integer"}, "v": {"type": ["null", "number"]}, "token": {"type": "string"}}
        stream = {"name": "s1", "json_schema": {"type": "object", "properties": properties},
                  "supported_sync_modes": ["full_refresh"]}  # fmt: skip
        out({"type": "CATALOG", "catalog": {"streams": [stream]}})
    elif command == "read":
        if mode == "stray":
            print("y" * 184 + f" password {token}", flush=True)  # the secret across 200 characters
        for n, value in enumerate(config.get("numbers") or [0.5], start=1):
            record({"id": n, "v": value, "token": token})
        state(1)
        if mode == "slow":
            time.sleep(60)
    elif command == "write":  # echo each STATE as it came, as airbyte-cdk's destinations do
        for line in sys.stdin:
            if json.loads(line)["type"] == "STATE" and mode != "ack_nothing":
                sys.stdout.write(line)
                sys.stdout.flush()


main()
