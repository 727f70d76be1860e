#!/usr/bin/env bash
# Smoke test of examples/orders: the order system run as its README says,
# with assertions:
#   - plain orders complete; the one above 10,000 and the one out of stock
#     are compensated (stock released, order cancelled);
#   - the read model says so, and the participants' state agrees: stock
#     and charges as the completed orders left them, nothing reserved or
#     charged twice;
#   - placing the same orders again starts nothing.
#   orders.sh WARREN_BINARY EXAMPLE_DIR PLUGIN
source "$(dirname "$0")/lib.sh"
warren=$1
example=$2
plugin=$3
python=/usr/bin/python3 # Debian's, with python3-pika
work=$(mktemp -d)
# A copy whose state starts empty, with the plugin of this build.
"$python" - "$example/orders.json" "$plugin" >"$work/orders.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["plugins"] = [sys.argv[2]]
print(json.dumps(config, indent=1))
PY
config=$work/orders.json
queues="orders.order orders.inventory orders.payment orders.notification
        orders.saga orders.summary orders.outcomes"
cleanup() {
  stop_node || true
  # shellcheck disable=SC2086
  "$python" - $queues <<'PY' || true
import os, sys, pika
conn = pika.BlockingConnection(pika.URLParameters(os.environ["WARREN_BROKER_URI"]))
ch = conn.channel()
for q in sys.argv[1:]:
    ch.queue_delete(q)
    ch.queue_delete(q + ".dlq")
conn.close()
PY
  rm -rf "$work"
}
trap cleanup EXIT

"$warren" check "$config"
start_node "$warren" "$config"
"$python" "$example/place_orders.py" --json >"$work/first.jsonl"
"$python" "$example/place_orders.py" >"$work/again.txt"
cat "$work/again.txt"
state() { "$warren" state show -c "$config" "$1" "$2"; }
books=$(state orders.inventory book)
pens=$(state orders.inventory pen)
# Refused before anything was charged: bob has no state at all.
bob=$(state orders.payment bob 2>/dev/null || echo '{"state": {"charged": 0}}')
alice=$(state orders.payment alice)
stop_node

"$python" - "$work" "$books" "$pens" "$bob" "$alice" <<'PY'
import json, sys
work, books, pens, bob, alice = sys.argv[1:]
lines = [json.loads(l) for l in open(f"{work}/first.jsonl")]
outcomes = {l["order_id"]: l for l in lines if "order_id" in l}
summary = {r["status"]: r for r in lines[-1]["summary"]}
failures = []
def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(what)
status = {k: v["status"] for k, v in outcomes.items()}
check("orders end as they should", status == {
    "o-1001": "completed", "o-1002": "compensated", "o-1003": "compensated",
    "o-1004": "completed"}, status)
check("the refused payment is named", "above 10,000" in outcomes["o-1002"]["error"],
      outcomes["o-1002"]["error"])
check("the stock shortage is named", "book left" in outcomes["o-1003"]["error"],
      outcomes["o-1003"]["error"])
check("o-1002's reservation was released",
      outcomes["o-1002"]["steps"]["reserve"] == "compensated", outcomes["o-1002"])
check("read model: 2 confirmed, 2 cancelled",
      summary.get("confirmed", {}).get("orders") == 2 and
      summary.get("cancelled", {}).get("orders") == 2, summary)
books = json.loads(books)["state"]
check("books: 5 - 3 left, nothing still reserved",
      books["available"] == 2 and len(books["reserved"]) == 1, books)
check("pens: 100 - 2 left", json.loads(pens)["state"]["available"] == 98, pens)
check("bob was not charged", json.loads(bob)["state"]["charged"] == 0, bob)
check("alice was charged once", json.loads(alice)["state"]["charged"] == 25.0, alice)
again = open(f"{work}/again.txt").read()
check("placing them again starts nothing", again.count("(placed before)") == 4, again)
sys.exit(1 if failures else 0)
PY
echo "example.orders passed"
