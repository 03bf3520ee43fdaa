"""`cnnlab serve`: trained runs as a web service that speaks TensorFlow Serving's REST API.

`models` finds what to serve and loads it, `batching` gathers concurrent requests into one
model call, `inputs` turns request bodies (JSON rows or columns, image uploads) into pixels or
a located error, `app` is the Starlette application (routes, errors, the token and Host rules)
and `server` runs it with uvicorn until Ctrl-C or SIGTERM. The package sits above `api/`: it
serves runs through the same `Run` the API gives, and only `cli/` sits above it.
"""
