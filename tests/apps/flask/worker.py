import time

print("flask worker up", flush=True)
while True:
    time.sleep(1)
