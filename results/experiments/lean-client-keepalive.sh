#!/bin/sh
# keep-alive throughput, fast responses: before vs after, alternated
# Usage: flock /work/coord/bench.lock results/experiments/lean-client-keepalive.sh (needs /tmp/reach-bin/async-client-{before,after}
# built from ec7353b and from this change, and target/release/lean-server). Results: lean-client-burst.txt section 5.
B=${B:-target/release}
$B/lean-server --port 18966 --threads 1 --quiet >/dev/null 2>&1 & SP=$!
while ! curl -s -o /dev/null http://127.0.0.1:18966/health; do sleep 0.05; done
for r in 1 2 3; do for c in before after; do
  perf stat -x, -o /tmp/reach-tput-$c.perf -e task-clock,raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_pwait -- /tmp/reach-bin/async-client-$c --engine lean --threads 1 --url "http://127.0.0.1:18966/say/hello?name=lab&ms=0" -n 60000 -c 20 --warmup 1000 --json > /tmp/reach-tput-$c.json
  python3 -c "
import json;d=json.load(open('/tmp/reach-tput-$c.json'))
p={l.split(',')[2]:float(l.split(',')[0]) for l in open('/tmp/reach-tput-$c.perf') if l.count(',')>3}
n=d['requests'];print('round $r $c', 'req/s %.0f'%(n/d['wall_s']), 'failed',d['failed'], 'client CPU µs/req %.1f'%(p['task-clock']*1e3/n), 'syscalls/req %.2f'%(p['raw_syscalls:sys_enter']/n), 'recvfrom/req %.2f'%(p['syscalls:sys_enter_recvfrom']/n), 'epoll_pwait/req %.2f'%(p['syscalls:sys_enter_epoll_pwait']/n))"
done; done
kill $SP; wait $SP
