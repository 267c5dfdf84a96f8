"""Read by gunicorn started in this folder (the image's WORKDIR /app); command-line options win."""

wsgi_app = "notes.wsgi:application"
# The control socket would be created under $HOME, which is read-only in the container.
control_socket_disable = True
# Heartbeat files of the workers: /tmp is the container's only writable place.
worker_tmp_dir = "/tmp"
accesslog = "-"
