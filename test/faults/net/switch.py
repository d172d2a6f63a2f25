#!/usr/bin/env python3
"""The fault suite's switch: a learning Ethernet switch over TAP devices that emulates links.

The machine's kernel has no sch_netem (nor prio, nor an iptables binary), so delay, jitter, loss
and partitions are applied here, in user space, the way netem would apply them on each host's
egress: a frame sent by host A is delayed and maybe dropped by A's link rule, then delivered. Per
link the order is kept (netem with jitter reorders; real links rarely do). A partition drops frames
silently (no FIN, no RST, no ICMP), so both ends keep half-open connections.

    switch.py <state-dir> <host> [<host> ...]

Creates one TAP device `tt-<host>` per host in the current network namespace (the topology script
then moves each into its host's namespace), writes <state-dir>/switch.ready, and forwards until
SIGTERM. Rules: <state-dir>/rules.json, re-read on SIGHUP; the generation applied is then written to
<state-dir>/rules.applied. Format:
    {"gen": 3, "links": {"w0": {"delayMs": 50, "jitterMs": 20, "loss": 0.02}},
     "blocked": [["w0", "broker"]], "isolated": ["broker"]}
"""
import fcntl
import heapq
import json
import os
import random
import selectors
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name):
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


class Rules:
    def __init__(self):
        self.links = {}
        self.blocked = set()
        self.isolated = set()
        self.gen = 0

    def load(self, path):
        try:
            with open(path) as f:
                raw = json.load(f)
        except FileNotFoundError:
            return
        self.links = raw.get('links', {})
        self.blocked = {frozenset(p) for p in raw.get('blocked', [])}
        self.isolated = set(raw.get('isolated', []))
        self.gen = raw.get('gen', 0)

    def cut(self, a, b):
        return a in self.isolated or b in self.isolated or frozenset((a, b)) in self.blocked


def main():
    state, hosts = sys.argv[1], sys.argv[2:]
    rules_path, applied_path = os.path.join(state, 'rules.json'), os.path.join(state, 'rules.applied')
    ports = {h: open_tap('tt-' + h) for h in hosts}
    host_of = {fd: h for h, fd in ports.items()}
    rules = Rules()
    reload = [True]
    running = [True]
    signal.signal(signal.SIGHUP, lambda *_: reload.__setitem__(0, True))
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    signal.signal(signal.SIGINT, lambda *_: running.__setitem__(0, False))
    sel = selectors.DefaultSelector()
    # A signal wakes the select at once (it would otherwise be retried until its timeout).
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    sel.register(wake_r, selectors.EVENT_READ)
    for fd in ports.values():
        sel.register(fd, selectors.EVENT_READ)
    macs = {}  # MAC -> host, learned from source addresses
    pending = []  # heap of (due, seq, host, frame)
    last_due = {h: 0.0 for h in hosts}
    seq = 0
    with open(os.path.join(state, 'switch.ready'), 'w') as f:
        f.write(str(os.getpid()))

    def deliver(src, frame):
        dst_mac = frame[0:6]
        dst = macs.get(dst_mac) if not dst_mac[0] & 1 else None
        targets = [dst] if dst is not None else [h for h in hosts if h != src]
        for h in targets:
            if h != src and not rules.cut(src, h):
                try:
                    os.write(ports[h], frame)
                except OSError:
                    pass  # the device is down (host being set up or torn down): the frame is lost

    while running[0]:
        if reload[0]:
            reload[0] = False
            rules.load(rules_path)
            with open(applied_path + '.tmp', 'w') as f:
                f.write(str(rules.gen))
            os.replace(applied_path + '.tmp', applied_path)
        now = time.monotonic()
        timeout = None if not pending else max(0.0, pending[0][0] - now)
        try:
            events = sel.select(timeout if timeout is not None else 1.0)
        except InterruptedError:
            continue
        for key, _ in events:
            if key.fd == wake_r:
                while True:
                    try:
                        if not os.read(wake_r, 512):
                            break
                    except BlockingIOError:
                        break
                continue
            src = host_of[key.fd]
            for _ in range(256):
                try:
                    frame = os.read(key.fd, 65600)
                except BlockingIOError:
                    break
                except OSError:
                    break
                if len(frame) < 14:
                    continue
                macs[frame[6:12]] = src
                link = rules.links.get(src)
                if link:
                    if random.random() < link.get('loss', 0):
                        continue
                    jitter = link.get('jitterMs', 0)
                    delay = (link.get('delayMs', 0) + random.uniform(-jitter, jitter)) / 1000
                    due = max(time.monotonic() + max(0.0, delay), last_due[src])
                    last_due[src] = due
                    seq += 1
                    heapq.heappush(pending, (due, seq, src, frame))
                else:
                    deliver(src, frame)
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, src, frame = heapq.heappop(pending)
            deliver(src, frame)


if __name__ == '__main__':
    main()
