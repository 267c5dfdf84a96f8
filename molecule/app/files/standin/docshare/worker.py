"""Stand-in worker: idles."""
import time

while True:
    time.sleep(60)
