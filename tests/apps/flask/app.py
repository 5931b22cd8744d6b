import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return os.environ.get("MESSAGE", "hello from flask") + "\n"


@app.route("/whoami")
def whoami():
    return f"uid={os.getuid()} cwd={os.getcwd()}\n"
