#!/usr/bin/env bash
# Two "hosts" on this machine: network namespaces joined by a veth pair. mpirun
# starts in the first and reaches the second through a launch agent that
# enters its namespace, so the ranks talk over TCP between two network stacks
# as two nodes would. A few training steps on two hosts must give what one
# process with the global batch gives.
#   multinode_test.sh STRIDE_BINARY MPIRUN
# Exit 77 (skipped) without root, iproute2, network namespaces or the dataset.
set -euo pipefail
stride=$1
mpirun=$2
skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null || skip "needs iproute2"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "needs dataset-fashion-mnist"

tag=$$
ns_a=stride-a-$tag ns_b=stride-b-$tag
work=$(mktemp -d)
cleanup() {
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
make_hosts() {
  ip netns add "$ns_a" && ip netns add "$ns_b" &&
    ip link add "va$tag" type veth peer name "vb$tag" &&
    ip link set "va$tag" netns "$ns_a" && ip link set "vb$tag" netns "$ns_b" &&
    ip -n "$ns_a" addr add 10.77.0.1/24 dev "va$tag" && ip -n "$ns_b" addr add 10.77.0.2/24 dev "vb$tag" &&
    ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up &&
    ip -n "$ns_a" link set "va$tag" up && ip -n "$ns_b" link set "vb$tag" up
}
make_hosts 2>"$work/ip.log" || skip "cannot make network namespaces here: $(head -1 "$work/ip.log")"

# The launch agent mpirun uses instead of ssh: agent HOST COMMAND...
cat > "$work/agent.sh" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in
  10.77.0.1) ns=$ns_a ;;
  10.77.0.2) ns=$ns_b ;;
  *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x "$work/agent.sh"

"$stride" prepare fashion-mnist --from /usr/share/datasets/fashion-mnist --out "$work/data" >/dev/null
cat > "$work/run.ini" <<CONFIG
[experiment]
name = multinode
seed = 3
[data]
dir = $work/data
limit = 960
workers = 1
[model]
layers = conv(8,3) relu maxpool(2) flatten dense(32) relu dense(10)
[train]
epochs = 2
threads = 1
checkpoint_dir = $work/ckpt
CONFIG

"$stride" train --config "$work/run.ini" --db "$work/one.db" --set data.batch_size=32 --no-progress
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ip netns exec "$ns_a" "$mpirun" -np 2 --host 10.77.0.1,10.77.0.2 --mca plm_rsh_agent "$work/agent.sh" \
  --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
  "$stride" train --config "$work/run.ini" --db "$work/two.db" --set data.batch_size=16 --no-progress

one=$("$stride" report trials --db "$work/one.db" --format json)
two=$("$stride" report trials --db "$work/two.db" --format json)
python3 - "$one" "$two" <<'PY'
import json, sys
one, two = (json.loads(a)[0] for a in sys.argv[1:3])
assert two["world_size"] == 2, f"world size {two['world_size']}"
for name in ("train_loss", "val_loss", "val_accuracy", "test_accuracy"):
    a, b = one["metrics"][name], two["metrics"][name]
    assert abs(a - b) <= 2e-4, f"{name}: one host {a}, two hosts {b}"
    print(f"{name}: one host {a:.6f}, two hosts {b:.6f}")
PY
echo "PASSED: two namespaced hosts over TCP follow one process"
