FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
RUN mkdir -p /data && chown node /data
# JSON log lines (the production default) for `docker logs` and log collectors. NODE_ROLE picks web, worker or all.
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0 DATA_DIR=/data LOG_FORMAT=json
EXPOSE 3000
USER node
VOLUME ["/data"]
# Liveness only (readiness is the proxy's business): the API port, or OPS_PORT for a worker. A worker without
# OPS_PORT serves no HTTP, so there is nothing to probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["node", "-e", "const p=process.env.OPS_PORT||(process.env.NODE_ROLE==='worker'?'':process.env.PORT);if(!p)process.exit(0);fetch('http://127.0.0.1:'+p+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM (docker stop) drains in-flight requests and running jobs, then exits 0.
CMD ["node", "src/main.ts"]
