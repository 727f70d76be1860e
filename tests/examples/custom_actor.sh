#!/usr/bin/env bash
# Builds examples/custom_actor OUT OF TREE against the installed package
# (find_package(warren)) and runs it with the installed `warren`.
#   custom_actor.sh BUILD_DIR EXAMPLE_DIR
source "$(dirname "$0")/lib.sh"
build_dir=$1
example=$2
prefix="$build_dir/_install"
rm -rf "$prefix" "$example/build"
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
cmake -S "$example" -B "$example/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$example/build" -j2 >/dev/null
warren="$prefix/bin/warren"
"$warren" check "$example/node.json"
start_node "$warren" "$example/node.json"
expect "add" "$("$warren" call arith -t add '{"a": 2, "b": 3}')" '{"result":5E0}'
expect "double (a call from inside an actor)" \
  "$("$warren" call doubler -t double '{"x": 21}')" '{"result":4.2E1}'
set +e
"$warren" call arith -t div '{"a": 1, "b": 0}' >/dev/null
code=$?
set -e
expect "division by zero is an error reply" "$code" 6
# The stateful account: a deposit sent twice with one id counts once.
"$warren" send --actor accounts -t deposit --message-id dep-1 '{"account": "alice", "amount": 30}' >/dev/null
"$warren" send --actor accounts -t deposit --message-id dep-1 '{"account": "alice", "amount": 30}' >/dev/null
"$warren" send --actor accounts -t deposit --message-id dep-2 '{"account": "alice", "amount": 12}' >/dev/null
"$warren" send --actor accounts -t withdraw --message-id wd-1 '{"account": "alice", "amount": 2}' >/dev/null
expect "balance after deposits and a duplicate" \
  "$("$warren" call accounts -t balance '{"account": "alice"}')" '{"balance":40}'
stop_node
# A new process reads the balance from the database.
start_node "$warren" "$example/node.json"
expect "balance after a restart" \
  "$("$warren" call accounts -t balance '{"account": "alice"}')" '{"balance":40}'
stop_node
expect "warren state show" \
  "$("$warren" state show -c "$example/node.json" accounts alice)" \
  "$(printf '%s' '{"key":"alice","version":3,"state":{"balance":40}}')"

echo "example.custom_actor_out_of_tree passed"
