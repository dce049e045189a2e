"""Exit 0 once 127.0.0.1:PORT accepts a connection (checked inside the task), 1 after ~5 s."""

import socket
import sys
import time

for _ in range(250):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.02)
sys.exit(1)
