#!/usr/bin/env python3
"""Cost per million events at AWS list prices, from the requests the storm
counted (target/storm/requests-<N>.json, written by the storm test in
tools/devstack/tests/storm.rs: every AWS request the functions and Lambda's
SQS pollers made, counted by operation at the proxy, and the functions'
invocations with their measured durations).

    python3 scripts/storm-cost.py [target/storm/requests-1000.json] [--json]

Prices: us-east-1 list prices, on-demand, beyond the free tiers, as published
on the services' pricing pages (checked 2026-11-27). Change them here.

What is and is not in the figure:
- HTTP API: one request per webhook delivery (each body < 512 KB).
- Lambda arm64: requests, and GB-seconds from each invocation's measured
  duration (handler wall time against the emulator, rounded up to 1 ms) at
  the template's MemorySize. moto answers a transaction in tens to hundreds
  of milliseconds (it copies the table), far slower than DynamoDB, so the
  measured durations are an upper bound; `--model-ms=10` models them
  instead as 1 ms of CPU per invocation + 10 ms per AWS call + 300 ms per
  tracker/Slack call. `--latency-ms=N` adds N ms per AWS call to the
  measured durations.
- SQS FIFO: every request the functions and the pollers made that carried
  messages (each 64 KB of payload is a request; all messages here are
  smaller). Empty receives are the pollers' idle cost, paid whether events
  arrive or not, so they are reported but not charged per event.
- DynamoDB on-demand: write request units (1 per KB written; 2 per item in
  a transaction) and read request units (0.5 per 4 KB eventually consistent,
  1 strongly consistent, 2 per item in a transaction), estimated from the
  request and response sizes the proxy saw.
- Not included: CloudWatch Logs/metrics ingestion, data transfer, KMS, the
  tracker's own pricing, the free tiers.
"""
import json
import math
import sys

PRICES = {
    "http_api_per_million": 1.00,
    "lambda_requests_per_million": 0.20,
    "lambda_arm64_gb_second": 0.0000133334,
    "sqs_fifo_per_million": 0.50,
    "dynamodb_wru_per_million": 0.625,
    "dynamodb_rru_per_million": 0.125,
}
MEMORY_GB = 256 / 1024  # template.yaml Globals.Function.MemorySize

# Calls only the local harness makes (the storm's pacing and drain read queue
# depths); neither the functions nor Lambda's pollers do.
HARNESS_ONLY = {"sqs:GetQueueAttributes"}
DYNAMO_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
DYNAMO_READS = {"GetItem", "Query", "Scan"}


def dynamodb_units(operation, stats):
    """(write units, read units) for one operation's served requests."""
    served = stats["served"]
    if served == 0:
        return 0.0, 0.0
    per_request_kb = stats["requestBytes"] / served / 1024
    per_response_kb = stats["responseBytes"] / served / 1024
    if operation in DYNAMO_WRITES:
        return served * max(1, math.ceil(per_request_kb)), 0.0
    if operation == "TransactWriteItems":
        items = stats["items"]
        per_item_kb = stats["requestBytes"] / max(items, 1) / 1024
        return 2 * items * max(1, math.ceil(per_item_kb)), 0.0
    if operation == "BatchWriteItem":
        items = stats["items"]
        per_item_kb = stats["requestBytes"] / max(items, 1) / 1024
        return items * max(1, math.ceil(per_item_kb)), 0.0
    if operation in DYNAMO_READS:
        blocks = max(1, math.ceil(per_response_kb / 4))
        consistent = stats["consistentReads"]
        eventual = served - consistent
        return 0.0, blocks * (consistent + 0.5 * eventual)
    if operation == "TransactGetItems":
        return 0.0, 2 * stats["items"]
    return 0.0, 0.0


def cost(counts, latency_ms=0.0, model_ms=None, tracker_ms=300.0):
    events = counts["events"]
    deliveries = counts["ingestRequests"]
    lambda_invocations = 0
    lambda_millis = 0.0
    aws_calls = 0
    sqs_requests = 0
    sqs_empty_receives = 0
    wru = rru = 0.0
    for name, stats in counts["aws"]["operations"].items():
        service, operation = name.split(":", 1)
        if name in HARNESS_ONLY:
            continue
        if service == "sqs":
            empties = stats.get("emptyReceives", 0)
            sqs_empty_receives += empties
            sqs_requests += stats["served"] - empties
        elif service == "dynamodb":
            w, r = dynamodb_units(operation, stats)
            wru += w
            rru += r
        aws_calls += stats["served"]
    for function in counts["lambda"].values():
        lambda_invocations += function["invocations"]
        lambda_millis += function["billedMillis"]
    lambda_millis += latency_ms * aws_calls
    if model_ms is not None:
        # Durations modelled instead of measured: 1 ms of CPU per
        # invocation (BENCHMARKS.md: tens of microseconds per event), each
        # AWS call at model_ms, each tracker/Slack call at tracker_ms.
        http_calls = sum(s["served"] for s in counts["http"]["operations"].values())
        lambda_millis = lambda_invocations + aws_calls * model_ms + http_calls * tracker_ms
    gb_seconds = lambda_millis / 1000 * MEMORY_GB

    per_event = {
        "httpApiRequests": deliveries / events,
        "lambdaInvocations": lambda_invocations / events,
        "lambdaGbSeconds": gb_seconds / events,
        "sqsRequests": sqs_requests / events,
        "dynamodbWriteUnits": wru / events,
        "dynamodbReadUnits": rru / events,
        "awsCalls": aws_calls / events,
    }
    million = 1_000_000
    dollars = {
        "httpApi": per_event["httpApiRequests"] * PRICES["http_api_per_million"],
        "lambdaRequests": per_event["lambdaInvocations"] * PRICES["lambda_requests_per_million"],
        "lambdaDuration": per_event["lambdaGbSeconds"] * million * PRICES["lambda_arm64_gb_second"],
        "sqs": per_event["sqsRequests"] * PRICES["sqs_fifo_per_million"],
        "dynamodbWrites": per_event["dynamodbWriteUnits"] * PRICES["dynamodb_wru_per_million"],
        "dynamodbReads": per_event["dynamodbReadUnits"] * PRICES["dynamodb_rru_per_million"],
    }
    dollars["total"] = sum(dollars.values())
    return {
        "events": events,
        "deliveriesPerEvent": deliveries / events,
        "assumedLatencyMsPerAwsCall": latency_ms,
        "modelledMsPerAwsCall": model_ms,
        "perEvent": per_event,
        "sqsIdleEmptyReceives": sqs_empty_receives,
        "dollarsPerMillionEvents": dollars,
        "prices": PRICES,
    }


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    path = args[0] if args else "target/storm/requests-1000.json"
    latency = 0.0
    model = None
    for a in argv:
        if a.startswith("--latency-ms="):
            latency = float(a.split("=", 1)[1])
        if a.startswith("--model-ms="):
            model = float(a.split("=", 1)[1])
    with open(path) as f:
        counts = json.load(f)
    result = cost(counts, latency, model)
    if "--json" in argv:
        print(json.dumps(result, indent=2))
        return
    print(f"{path}: {result['events']} events, {result['deliveriesPerEvent']:.2f} deliveries per event")
    print("\nper event:")
    for k, v in result["perEvent"].items():
        print(f"  {k:22} {v:10.4f}")
    print("\ncounted by operation (served requests):")
    for name, stats in sorted(counts["aws"]["operations"].items()):
        if name in HARNESS_ONLY:
            continue
        print(f"  {name:32} {stats['served']:8} ({stats['served'] / result['events']:.2f}/event)")
    print(f"  (SQS empty receives, the pollers' idle cost: {result['sqsIdleEmptyReceives']})")
    how = (f"durations modelled: {model} ms per AWS call, 300 ms per tracker call" if model is not None
           else f"durations as measured against the emulator + {latency} ms per AWS call")
    print(f"\n$ per million events ({how}):")
    for k, v in result["dollarsPerMillionEvents"].items():
        print(f"  {k:16} {v:9.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
