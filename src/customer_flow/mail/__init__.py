"""Mail: mailboxes read for tickets, replies sent to customers (issue 18).

``accounts`` keeps the mail servers' settings, ``parsing`` turns a raw message into what a
ticket needs (the stdlib ``email`` package; HTML through ``nh3``), ``quotes`` trims quoted
history, ``inbound`` remembers every message read (exactly once), ``outbox`` holds the replies
to send, and ``transport`` talks IMAP (``imap-tools``) and SMTP (``smtplib``).
"""
