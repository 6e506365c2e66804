"""Local servers that speak the real protocols the notifiers use (Slack Web API, SMTP,
webhooks), on free loopback ports, recording what they receive."""
