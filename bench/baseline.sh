#!/usr/bin/env bash
# The baseline a user would write without the harness, for one scenario: a named network
# namespace, tcpdump started and waited for, the two peers, tcpdump stopped, tshark for the
# flags, the namespace deleted. Prints one JSON line: each phase's milliseconds and the flags.
# Usage: baseline.sh SCENARIO OUTDIR
set -euo pipefail
scenario=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
ns="bench-$$"
pcap="$out/$scenario-baseline.pcap"
now() { date +%s%N; }

t0=$(now)
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip -n "$ns" link set lo up
t1=$(now)
ip netns exec "$ns" tcpdump -i lo --immediate-mode -U -w "$pcap" tcp 2>"$out/tcpdump.err" &
dump=$!
# tcpdump says "listening on" once its capture is open; a user polls for it.
until grep -q "listening on" "$out/tcpdump.err"; do sleep 0.005; done
t2=$(now)
ip netns exec "$ns" python3 "$here/baseline_peer.py" server "$scenario" &
server=$!
ip netns exec "$ns" python3 "$here/baseline_peer.py" client "$scenario"
wait "$server"
t3=$(now)
kill -INT "$dump"
wait "$dump" || true
t4=$(now)
flags=$(tshark -r "$pcap" -T fields -e tcp.flags.str 2>/dev/null | tr -d '·' | tr '\n' ' ')
t5=$(now)
ip netns del "$ns"
trap - EXIT
t6=$(now)
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'; }
printf '{"namespace": %s, "capture start": %s, "peers and exchange": %s, "capture stop": %s, "tshark": %s, "teardown": %s, "flags": "%s"}\n' \
  "$(ms "$t0" "$t1")" "$(ms "$t1" "$t2")" "$(ms "$t2" "$t3")" "$(ms "$t3" "$t4")" \
  "$(ms "$t4" "$t5")" "$(ms "$t5" "$t6")" "${flags% }"
