# Postvagt: SMTP on 2525, staff page on 8025. Runs as an unprivileged user.
FROM python:3.12-slim

# libmagic1 for real-type sniffing, tesseract (Danish + English) for OCR, openssl and gnupg
# for signature checks: all used by the inspection stages.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmagic1 tesseract-ocr tesseract-ocr-dan \
      tesseract-ocr-eng openssl gnupg \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --system --home-dir /var/lib/postvagt --create-home postvagt
WORKDIR /opt/postvagt
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY policies ./policies
COPY templates ./templates
# Editable: the code finds policies/ and templates/replies/ next to it, where admins edit them.
RUN pip install --no-cache-dir -e . && rm -rf /root/.cache

USER postvagt
WORKDIR /var/lib/postvagt
ENV POSTVAGT_DATA_DIR=/var/lib/postvagt \
    POSTVAGT_POLICY=/opt/postvagt/policies/default.yaml \
    POSTVAGT_LISTEN=0.0.0.0:2525 \
    POSTVAGT_WEB_LISTEN=0.0.0.0:8025
VOLUME ["/var/lib/postvagt"]
EXPOSE 2525 8025
ENTRYPOINT ["postvagt"]
CMD ["run"]
