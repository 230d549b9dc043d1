#!/usr/bin/env bash
# A copy of ../shared/bench/etcd-side-by-side.sh for replicas with a peer listener and a cluster secret
# (PEER_LISTEN, PEER_SECRET: issue 11); the .lua scripts beside it in etcd/ are copies too.
# Side-by-side fsynced-put throughput: etcd 3.4 (Debian etcd-server, v2 HTTP API) vs paxos-chaos replicas,
# both 3 members on 127.0.0.1, same wrk, alternated in one run. Usage: side_by_side.sh PROJECT_CHECKOUT [SECONDS]
# Needs: apt-get install etcd-server wrk; the project's .venv (make venv).
set -u
proj=$(readlink -f "$1"); secs=${2:-8}
here=$(dirname "$(readlink -f "$0")")/etcd
work=$(mktemp -d); cd "$work"
cl="e1=http://127.0.0.1:12381,e2=http://127.0.0.1:12382,e3=http://127.0.0.1:12383"
pids=()
for i in 1 2 3; do
  ETCD_UNSUPPORTED_ARCH= etcd --name e$i --data-dir "$work/e$i" --enable-v2=true \
    --listen-peer-urls http://127.0.0.1:1238$i --initial-advertise-peer-urls http://127.0.0.1:1238$i \
    --listen-client-urls http://127.0.0.1:1237$i --advertise-client-urls http://127.0.0.1:1237$i \
    --initial-cluster $cl --initial-cluster-state new --log-level error > e$i.log 2>&1 &
  pids+=($!)
done
PEERS=1=http://127.0.0.1:12481,2=http://127.0.0.1:12482,3=http://127.0.0.1:12483   # the peer listeners
export PEER_SECRET=$(python3 -c "import secrets; print(secrets.token_hex(32))")  # one per cluster
for i in 1 2 3; do
  NODE_ID=$i PEERS=$PEERS LISTEN=127.0.0.1:1247$i PEER_LISTEN=127.0.0.1:1248$i DATA_DIR="$work/p$i" LOG_LEVEL=WARNING \
    "$proj/.venv/bin/python" -m replica_image > p$i.log 2>&1 &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$proj"; sleep 6
# find our leader
lead=""
for t in $(seq 1 30); do
  for i in 1 2 3; do
    r=$(curl -s -m 1 127.0.0.1:1247$i/status) || continue
    echo "$r" | grep -q '"role": *"leader"' && lead=1247$i
  done
  [ -n "$lead" ] && break; sleep 0.5
done
[ -n "$lead" ] || { echo "no paxos-chaos leader"; exit 1; }
elead=$(ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:12371,127.0.0.1:12372,127.0.0.1:12373 endpoint status -w json 2>/dev/null \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print([e["Endpoint"] for e in d if e["Status"]["leader"]==e["Status"]["header"]["member_id"]][0])')
echo "etcd leader $elead; paxos-chaos leader 127.0.0.1:$lead"
printf "%-8s %8s %14s %14s %8s\n" clients round etcd_puts/s ours_puts/s ratio
for c in 1 16 64; do
  for round in 1 2; do
    t=$(( c < 2 ? 1 : 2 )); eo=$(wrk -t $t -c $c -d ${secs}s -s "$here/etcd-put.lua" "http://$elead" 2>&1)
    oo=$(wrk -t $t -c $c -d ${secs}s -s "$here/paxos-put.lua" "http://127.0.0.1:$lead" 2>&1)
    e=$(echo "$eo" | awk '/Requests\/sec/ {print $2}'); o=$(echo "$oo" | awk '/Requests\/sec/ {print $2}')
    bad="$(echo "$eo" | grep -i 'non-2xx' | tr -s ' ')$(echo "$oo" | grep -i 'non-2xx' | tr -s ' ')"
    printf "%-8s %8s %14s %14s %8.3f %s\n" $c $round "$e" "$o" "$(python3 -c "print($o/$e)")" "$bad"
  done
done
