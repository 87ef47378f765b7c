"""Tickets: types, the lifecycle, the queue, SLA targets in business time, the calendar."""
