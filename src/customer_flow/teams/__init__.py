"""Teams and agents: who can work tickets, named groups of them, and round-robin assignment."""
