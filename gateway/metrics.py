"""Prometheus metrics: counts and latencies, never a value, an address or a subject.

One ``Metrics`` per gateway (its own registry, no module-level state), fed by the pipeline
and the outbox sender; queue sizes are read from the database when /metrics is scraped, so
they hold for all instances sharing it.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.model import Outcome


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "postvagt_messages", "Messages handled, by outcome", ["outcome"], registry=r
        )
        self.verdicts = Counter(
            "postvagt_verdicts", "Verdicts, by action and rule", ["action", "rule"], registry=r
        )
        self.findings = Counter(
            "postvagt_findings", "Personal data found, by entity type", ["entity"], registry=r
        )
        self.unscanned = Counter(
            "postvagt_unscanned",
            "Messages with parts not scanned, by reason",
            ["reason"],
            registry=r,
        )
        self.replies = Counter(
            "postvagt_replies",
            "Auto-replies, by state (queued, suppressed, sent, failed)",
            ["state"],
            registry=r,
        )
        self.seconds = Histogram(
            "postvagt_message_seconds",
            "Time from the final '.' to our reply, by phase",
            ["phase"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.queue = Gauge(
            "postvagt_queue",
            "Database queues (all instances): flagged open, held, outbox",
            ["queue"],
            registry=r,
        )
        self.in_flight = Gauge(
            "postvagt_in_flight", "Transactions open on this instance", registry=r
        )

    def message(self, outcome: Outcome, total_seconds: float) -> None:
        facts = outcome.inspection
        state = "delivered" if outcome.delivered else f"reply_{outcome.reply.code // 100}xx"
        self.messages.labels(state).inc()
        if facts.verdict is not None:
            self.verdicts.labels(facts.verdict.action, facts.verdict.rule).inc()
        # One increment per type: a list of 300 people has 900 findings.
        for entity, count in Tally(f.entity for f in facts.findings).items():
            self.findings.labels(entity).inc(count)
        for reason in facts.unscanned:
            self.unscanned.labels(str(reason)).inc()
        self.seconds.labels("total").observe(total_seconds)

    def exposition(self, counts: dict[str, int], in_flight: int) -> bytes:
        for name, value in counts.items():
            self.queue.labels(name).set(value)
        self.in_flight.set(in_flight)
        return generate_latest(self.registry)
