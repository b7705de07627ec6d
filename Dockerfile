# One advdemo replica: a Streamlit process on port 8501. deploy/compose.yaml runs several of these behind nginx (the
# same image, with nginx installed for the proxy service), all sharing one model store (ADVDEMO_HOME=/data).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nginx curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY .streamlit .streamlit
COPY app.py pyproject.toml ./
COPY advdemo advdemo
COPY pretrained pretrained
COPY deploy deploy
RUN useradd --create-home --uid 1000 advdemo && mkdir /data && chown advdemo /data
USER advdemo
ENV ADVDEMO_HOME=/data TF_CPP_MIN_LOG_LEVEL=2
VOLUME /data
EXPOSE 8501
HEALTHCHECK --interval=10s --start-period=60s CMD curl -fs http://127.0.0.1:8501/_stcore/health || exit 1
CMD ["streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0", "--server.headless", "true"]
