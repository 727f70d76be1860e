#!/usr/bin/env bash
# Smoke test of examples/sensors: the sensor pipeline (validator, transformer,
# sliding window, enricher) run as the README says, with assertions:
#   - every reading the generator sent reaches the window exactly once, and
#     results come out for every device, enriched with its location;
#   - the window's results equal `warren window replay` over the events the
#     window received (tapped by a queue bound to warren.actors with the
#     window's name: a copy of each message sent to it, in the same order),
#     result for result and id for id;
#   - the planted late readings are in sensors.late, the planted malformed
#     ones in sensors.readings.dlq with their reasons.
#   sensors.sh WARREN_BINARY EXAMPLE_DIR
source "$(dirname "$0")/lib.sh"
warren=$1
example=$2
python=/usr/bin/python3 # Debian's, with python3-pika
work=$(mktemp -d)
# A copy, so that the node's state (.state/ next to the config) starts empty.
cp "$example"/sensors.json "$example"/reading.schema.json "$example"/devices.csv \
  "$example"/generator.py "$example"/print_results.py "$work"/
config=$work/sensors.json

queues="sensors.readings sensors.readings.dlq sensors.results sensors.late
        sensors.transform sensors.transform.dlq sensors.window sensors.window.dlq
        sensors.enrich sensors.enrich.dlq sensors.tap.window-in sensors.tap.window-out"
# broker ACTION: delete (every queue above), tap (declare the taps), or
# depth QUEUE... (their ready messages, added up).
broker() {
  "$python" - "$@" <<'EOF'
import os, sys, pika
action = sys.argv[1]
conn = pika.BlockingConnection(pika.URLParameters(os.environ["WARREN_BROKER_URI"]))
ch = conn.channel()
if action == "delete":
    for q in sys.argv[2:]:
        ch.queue_delete(q)
elif action == "tap":
    for queue, actor in (("sensors.tap.window-in", "sensors.window"),
                         ("sensors.tap.window-out", "sensors.enrich")):
        ch.queue_declare(queue, durable=True)
        ch.queue_bind(queue, "warren.actors", routing_key=actor)
elif action == "depth":
    print(sum(ch.queue_declare(q, passive=True).method.message_count
              for q in sys.argv[2:]))
conn.close()
EOF
}
cleanup() {
  stop_node || true
  # shellcheck disable=SC2086
  broker delete $queues || true
  rm -rf "$work"
}
trap cleanup EXIT
# Left over from an earlier run that did not finish.
# shellcheck disable=SC2086
broker delete $queues

"$warren" check "$config"
start_node "$warren" "$config"
broker tap

# An hour of readings (9 devices, one per 10 s each) in batched envelopes of
# 25, as fast as the broker confirms them.
"$python" "$work/generator.py" --minutes 60 --rate 0 --batch 25 --seed 7 \
  --summary "$work/summary.json"
expected_events=$("$python" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["readings"] + s["closing"])' "$work/summary.json")

# Done when the window got every valid reading and the stages are drained.
for _ in $(seq 1 600); do
  got=$(broker depth sensors.tap.window-in)
  busy=$(broker depth sensors.readings sensors.transform sensors.window sensors.enrich)
  [ "$got" -ge "$expected_events" ] && [ "$busy" = 0 ] && break
  sleep 0.2
done
expect "readings that reached the window" "$got" "$expected_events"

drain() { "$python" "$work/print_results.py" --json --idle 2 --queue "$1" >"$2"; }
drain sensors.results "$work/results.jsonl"
drain sensors.tap.window-in "$work/window-in.jsonl"
drain sensors.tap.window-out "$work/window-out.jsonl"
drain sensors.late "$work/late.jsonl"
drain sensors.readings.dlq "$work/dlq.jsonl"
stop_node

# The events as the window saw them, for the replay.
"$python" - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
seen = set()
with open(f"{work}/window-in.jsonl") as f, open(f"{work}/events.jsonl", "w") as out:
    for line in f:
        m = json.loads(line)
        if m["id"] not in seen:
            seen.add(m["id"])
            out.write(json.dumps(m["body"]) + "\n")
EOF
"$warren" window replay "$config" sensors.window "$work/events.jsonl" >"$work/replay.jsonl"

"$python" - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
summary = json.load(open(f"{work}/summary.json"))
def messages(name):
    return [json.loads(l) for l in open(f"{work}/{name}.jsonl")]
def by_id(name):
    out = {}
    for m in messages(name):
        if m["id"] in out:
            assert out[m["id"]]["body"] == m["body"], f"{name}: copies of {m['id']} differ"
        out[m["id"]] = m
    return out
failures = []
def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(what)

# The reference: the replay over the same events, less the windows that only
# the end of the file closes (the live watermark stops at the last reading).
events = [json.loads(l) for l in open(f"{work}/events.jsonl")]
watermark = max(e["timestamp"] for e in events) - 10000 - 1
reference, replay_late = {}, 0
for line in open(f"{work}/replay.jsonl"):
    r = json.loads(line)
    if "late" in r:
        replay_late += 1
    elif r["result"]["end"] - 1 <= watermark:
        reference[r["id"]] = r["result"]
window_out = {i: m["body"] for i, m in by_id("window-out").items()}
check("window results equal the replay's, id for id", window_out == reference,
      f"{len(window_out)} published, {len(reference)} in the replay, "
      f"{len(set(window_out) ^ set(reference))} ids differ")
updates = sum(1 for r in reference.values() if r["update"])
check("some results are updates (readings within the allowed lateness)", updates > 0)
devices = {r["key"]["device_id"] for r in reference.values()}
check("results for every device", devices == set(summary["devices"]), sorted(devices))

results = by_id("results")
check("one enriched result per window result", len(results) == len(window_out),
      f"{len(results)} vs {len(window_out)}")
for rid, m in results.items():
    body = dict(m["body"])
    location = body.pop("location", None)
    source = rid.rsplit("/sensors.enrich/", 1)[0]
    if window_out.get(source) != body or location is None:
        check(f"result {rid} is its window result plus a location", False, m)
        break
    device = body["key"]["device_id"]
    if m["routing_key"] != f"sensor.{location['site']}.{device}":
        check(f"result {rid} routing key", False, m["routing_key"])
        break
    if (device == "dev-009") != bool(location.get("unregistered")):
        check(f"result {rid} unregistered flag", False, location)
        break
else:
    check("every result carries its location and routing key", True)

late = by_id("late")
check("late readings in sensors.late", len(late) == summary["late"] == replay_late,
      f"{len(late)} in the queue, {summary['late']} planted, {replay_late} in the replay")
dlq = by_id("dlq")
planted = sum(summary["malformed"].values())
check("malformed readings in sensors.readings.dlq", len(dlq) == planted,
      f"{len(dlq)} vs {planted} planted")
reasons = [m["headers"].get("x-warren-error", "") for m in dlq.values()]
for needle in ("schema violation", "quality 0.5 is below min_quality 0.75", "$.temperature"):
    check(f"a dead letter says '{needle}'", any(needle in r for r in reasons), reasons[:4])
codes = {m["headers"].get("x-warren-error-code", "") for m in dlq.values()}
check("the non-JSON body is dead-lettered as malformed_body", "malformed_body" in codes, codes)
print(f"{len(events)} events, {len(reference)} window results ({updates} updates), "
      f"{len(late)} late, {len(dlq)} dead letters")
sys.exit(1 if failures else 0)
EOF
echo "example.sensors passed"
