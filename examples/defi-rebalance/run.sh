#!/usr/bin/env bash
# The DeFi rebalancing example in one command, on a fresh machine:
#   bash examples/defi-rebalance/run.sh
# It installs what it needs (npm packages, anvil), starts anvil, deploys
# Uniswap V2 (the npm packages' compiled contracts), starts a 3-node devnet
# whose registry lives on the same anvil, and an off-chain price feed, mints a PKP bound to the rebalancing action
# by mint-grant-burn, funds it, starts `candela listen` (a timer and the
# pool's Sync events), moves the pool's price three times and prints the
# portfolio before and after each rebalance with its transaction hashes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

echo "== installing what the example needs"
npm ci --prefix "$here" --no-audit --no-fund >/dev/null
bash contracts/setup.sh >/dev/null
bash crates/candela-actions/js/setup.sh >/dev/null
cargo build -q --bin candela
candela="$root/target/debug/candela"
anvil="${CANDELA_ANVIL:-$root/contracts/node_modules/.bin/anvil}"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rpc_port="$(free_port)"
feed_port="$(free_port)"
rpc="http://127.0.0.1:$rpc_port"
# anvil's second development account deploys Uniswap and moves the price;
# the first one is the portfolio owner's (it only mints the PKP).
deployer=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
owner=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
uni() { node "$here/uniswap.js" "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "== anvil on $rpc"
"$anvil" --port "$rpc_port" --silent >"$work/anvil.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "$rpc" -X POST -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' && break; sleep 0.2; done

echo "== Uniswap V2, WETH and two tokens; a pool of 100,000 A : 200,000 B"
uni deploy --rpc "$rpc" --key "$deployer" >"$work/deployment.json"
pair="$(field "['pair']" <"$work/deployment.json")"

echo "== an off-chain price feed on 127.0.0.1:$feed_port"
mkdir -p "$work/feed"
set_price() { printf '{"price": %s}\n' "$1" >"$work/feed/price"; }
set_price 2
python3 -m http.server "$feed_port" --bind 127.0.0.1 --directory "$work/feed" >/dev/null 2>&1 &
pids+=($!)

echo "== a 3-node devnet on anvil: its registry contracts there too, its actions reaching it as chain \"anvil\""
# anvil's third development account deploys the registry and administers the node set
registry_admin=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
"$candela" devnet --nodes 3 --dir "$work/devnet" --base-port 0 --rpc-url "$rpc" \
  --deployer-key "$registry_admin" --chain-rpc "anvil=$rpc" >"$work/devnet.log" 2>&1 &
devnet_pid=$!
pids+=("$devnet_pid")
until grep -q "\[devnet\] ready" "$work/devnet.log" 2>/dev/null; do
  if ! kill -0 "$devnet_pid" 2>/dev/null; then
    echo "the devnet stopped:"; tail -20 "$work/devnet.log"; exit 1
  fi
  sleep 0.2
done
network="$work/devnet/network.json"

echo "== the action (addresses and guard rails in its code), its CID, a PKP bound to it"
uni build-action --deployment "$work/deployment.json" --price-url "http://127.0.0.1:$feed_port/price" \
  --out "$work/rebalance.js" >/dev/null
cid="$("$candela" action deploy "$work/rebalance.js" --network "$network" | tail -1 | awk '{print $NF}')"
echo "action CID: $cid"
pkp_json="$("$candela" pkp mint --network "$network" --private-key "$owner" --permit-action "$cid" --burn --json)"
public_key="$(echo "$pkp_json" | field "['publicKey']")"
address="$(echo "$pkp_json" | field "['ethAddress']")"
echo "PKP $address (burnt: only the action can sign with it)"
uni fund --rpc "$rpc" --key "$deployer" --deployment "$work/deployment.json" --to "$address" \
  --a 500 --b 1000 --eth 10 >/dev/null

show() { echo "  $(uni state --rpc "$rpc" --deployment "$work/deployment.json" --who "$address" --text 1) (target 0.500 +- 0.020)"; }
weight() { uni state --rpc "$rpc" --deployment "$work/deployment.json" --who "$address" | field "['weightA']"; }
swaps() { uni history --rpc "$rpc" --deployment "$work/deployment.json" --who "$address" --text 1; }

cat >"$work/triggers.toml" <<EOF
network = "$network"
private_key = "$owner"
database = "$work/listener.db"

[[trigger]]
name = "every-5s"
action.cid = "$cid"
params = { publicKey = "$public_key" }
[trigger.source]
type = "interval"
every = "5s"

[[trigger]]
name = "pool-sync"
action.cid = "$cid"
params = { publicKey = "$public_key", eventId = "{{eventId}}" }
[trigger.source]
type = "evm_logs"
rpc_url = "$rpc"
address = "$pair"
topics = ["0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"]
confirmations = 0
EOF
echo "== candela listen (a 5 s timer and the pool's Sync events)"
"$candela" listen --config "$work/triggers.toml" >"$work/listen.log" 2>&1 &
pids+=($!)
show

for move in "b 40000" "a 70000" "b 30000"; do
  set -- $move
  echo "== someone sells $2 of token ${1^^}: the pool price moves"
  uni swap --rpc "$rpc" --key "$deployer" --deployment "$work/deployment.json" --sell "$1" --amount "$2" >/dev/null
  # the action refuses to trade while the pool disagrees with the feed
  show
  price="$(uni state --rpc "$rpc" --deployment "$work/deployment.json" --who "$address" | field "['price']")"
  echo "  the off-chain feed follows: $price B/A"
  started=$(date +%s.%N)
  set_price "$price"
  for _ in $(seq 120); do
    python3 -c "import sys; sys.exit(0 if abs($(weight) - 0.5) <= 0.02 else 1)" && break
    sleep 0.5
  done
  echo "  rebalanced in $(python3 -c "print(round($(date +%s.%N) - $started, 1))") s (price feed update to mined swap, through the listener):"
  show
  echo "  $(swaps)"
done
echo "== done: $(swaps)"
