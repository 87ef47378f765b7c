"""Users: logins, password hashing, sessions, API tokens and the login throttle."""
