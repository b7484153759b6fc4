/**
 * Media case: what an agent's upload costs us, against what the image work alone costs.
 *
 * - pipeline: the skill's flow through the real app (in-process `app.request`, real storage on disk, the bench
 *   database): create upload session → PUT the bytes → complete. Completion runs the whole processing step (sniff,
 *   pixel cap, EXIF orientation, metadata strip, re-encoded original, 1080 and 640 WebP derivatives, blurhash) under
 *   the server's processing semaphore. N flows, as many in flight as the configured processing concurrency.
 * - baseline: raw sharp on the same file: decode + one resize to a 1080 box as WebP, same N, same concurrency. The
 *   ratio is therefore our whole pipeline's overhead over the minimum useful work on that image.
 * - burst: 20 staged uploads completed at once with the configured concurrency. Its peak RSS is compared with the
 *   steady upload flow's: about 1× means a burst costs no more memory than steady traffic (the processing semaphore
 *   bounds it). `BENCH_MEDIA_UNBOUNDED=1` adds the same burst with the semaphore opened to 20, for contrast.
 *
 * Baseline and upload flow alternate in rounds (A B A B) so that other load on the machine hits both sides alike.
 * Every phase runs in its own child process (see `BenchContext.isolated`) and reports the kernel's RSS high-water
 * mark for that process: sampling one long-lived process would let each phase inherit the previous phase's peak,
 * since libvips' and V8's memory is rarely handed back. The photo is generated once by the runner and read from a
 * file by every phase, so all of them see identical bytes.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { compareRows, expectStatus, MB, mergeMeasurements, type BenchApp, type BenchCase, type BenchContext, type Measurement, type Row } from "../lib.ts";

const WIDTH = 2400;
const HEIGHT = 1600;
/** Timed flows per side, split over ROUNDS interleaved child processes (each with WARMUP untimed flows first). */
const ITERATIONS = 16;
const ROUNDS = 2;
const WARMUP = 1;
const BURST = 20;

/**
 * A deterministic photo-like JPEG: a smooth random colour field (large "objects"), a texture, and per-pixel grain,
 * so the encoder can't compress it trivially (~1.3 MB at quality 90), with camera EXIF and GPS for the pipeline to
 * strip.
 */
async function makePhoto(): Promise<Buffer> {
  let seed = 0x9e3779b9;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const GW = 40;
  const GH = 27;
  const grid = Float64Array.from({ length: GW * GH * 3 }, () => random() * 255);
  const raw = Buffer.alloc(WIDTH * HEIGHT * 3);
  for (let y = 0; y < HEIGHT; y++) {
    const gy = (y / HEIGHT) * (GH - 1);
    const y0 = Math.floor(gy);
    const fy = gy - y0;
    for (let x = 0; x < WIDTH; x++) {
      const gx = (x / WIDTH) * (GW - 1);
      const x0 = Math.floor(gx);
      const fx = gx - x0;
      const i = (y * WIDTH + x) * 3;
      for (let c = 0; c < 3; c++) {
        const g = (xx: number, yy: number) => grid[(yy * GW + xx) * 3 + c]!;
        const field = g(x0, y0) * (1 - fx) * (1 - fy) + g(x0 + 1, y0) * fx * (1 - fy) + g(x0, y0 + 1) * (1 - fx) * fy + g(x0 + 1, y0 + 1) * fx * fy;
        const texture = 20 * Math.sin(x * 0.05 + c) * Math.sin(y * 0.07);
        raw[i + c] = Math.max(0, Math.min(255, field * 0.7 + texture + (random() - 0.5) * 40));
      }
    }
  }
  return sharp(raw, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
    .withExif({
      IFD0: { Make: "ClawCam", Model: "Bench 1", Software: "clawgram-bench" },
      IFD3: { GPSLatitudeRef: "N", GPSLatitude: "51/1 30/1 0/1", GPSLongitudeRef: "W", GPSLongitude: "0/1 7/1 0/1" },
    })
    .jpeg({ quality: 90 })
    .toBuffer();
}

type Args = { file: string; iterations: number; concurrency: number; burst: number; processingConcurrency: number };
const argsOf = (ctx: BenchContext) => ctx.args as unknown as Args;

/** Upload session + PUT of the bytes; returns the upload id, ready for completion. */
async function stage(t: BenchApp, key: string, bytes: Buffer): Promise<string> {
  const session = await t.call("POST", "/api/v1/media/uploads", {
    key,
    body: { filename: "photo.jpg", content_type: "image/jpeg", size_bytes: bytes.length },
  });
  expectStatus("create upload", session, 201);
  const data = session.json!.data as { upload_id: string; upload_url: string };
  const url = new URL(data.upload_url);
  const put = await t.app.request(url.pathname + url.search, {
    method: "PUT",
    headers: { "content-type": "image/jpeg", "content-length": String(bytes.length) },
    body: bytes,
  });
  expectStatus("PUT bytes", { status: put.status, text: await put.text() }, 200);
  return data.upload_id;
}

async function complete(t: BenchApp, key: string, uploadId: string) {
  const res = await t.call("POST", `/api/v1/media/uploads/${uploadId}/complete`, { key });
  expectStatus("complete", res, 201);
}

export const media: BenchCase = {
  name: "media",
  description: "Upload → PUT → complete of a 2400×1600 JPEG vs raw sharp resize; memory under a burst of 20 completions",

  async run(ctx) {
    const { loadConfig } = await import("../../src/config/index.ts");
    // The server's processing concurrency as this environment would configure it (default 2).
    const concurrency = loadConfig({ MEDIA_PROCESSING_CONCURRENCY: process.env.MEDIA_PROCESSING_CONCURRENCY }).media.processingConcurrency;
    const photo = await makePhoto();
    const meta = await sharp(photo).metadata();
    const file = path.join(ctx.workDir, "photo.jpg");
    await writeFile(file, photo);
    ctx.note(
      `input ${meta.width}×${meta.height} JPEG (${((meta.width! * meta.height!) / 1e6).toFixed(1)} MP, ${(photo.length / MB).toFixed(2)} MB); ` +
        `${ITERATIONS} timed flows per side in ${ROUNDS} interleaved rounds (baseline, ours, baseline, ours), concurrency ${concurrency}.`,
    );
    ctx.note("upload flow = POST uploads → PUT bytes → POST complete via app.request (in-process, no sockets); baseline = sharp decode + 1080-box WebP.");
    ctx.note(`burst = ${BURST} staged uploads completed at once; its baseline is the steady upload flow above (≈1× = the semaphore bounds memory).`);

    const perRound = Math.ceil(ITERATIONS / ROUNDS);
    const common = { file, iterations: perRound, concurrency };
    const baselineRounds: Measurement[] = [];
    const pipelineRounds: Measurement[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      ctx.log(`round ${round}/${ROUNDS}: baseline (raw sharp resize × ${perRound})…`);
      baselineRounds.push(await ctx.isolated("baseline", common));
      ctx.log(`round ${round}/${ROUNDS}: upload flow × ${perRound}…`);
      pipelineRounds.push(await ctx.isolated("pipeline", common));
    }
    const baseline = mergeMeasurements(baselineRounds);
    const pipeline = mergeMeasurements(pipelineRounds);
    ctx.log(`burst: ${BURST} completions at once, semaphore ${concurrency}…`);
    const burst = await ctx.isolated("burst", { file, burst: BURST, processingConcurrency: concurrency });

    const burstRows: Row[] = [
      { metric: `burst ×${BURST} peak RSS`, value: burst.peakRssMb, unit: "MB", better: "lower", baseline: pipeline.peakRssMb },
      {
        metric: `burst ×${BURST} RSS growth`,
        value: burst.peakRssMb - burst.rssBeforeMb,
        unit: "MB",
        better: "lower",
        baseline: pipeline.peakRssMb - pipeline.rssBeforeMb,
      },
      { metric: `burst ×${BURST} drain time`, value: burst.wallMs, unit: "ms", better: "lower" },
      { metric: `burst ×${BURST} completions/s`, value: burst.opsPerSec, unit: "ops/s", better: "higher" },
      { metric: `burst ×${BURST} CPU time per completion`, value: burst.cpuMsPerOp, unit: "ms", better: "lower" },
    ];
    if (process.env.BENCH_MEDIA_UNBOUNDED === "1") {
      // Opt-in contrast (adds a phase): the same burst with the semaphore opened to the burst size.
      ctx.log(`burst: ${BURST} completions at once, semaphore ${BURST}…`);
      const open = await ctx.isolated("burst", { file, burst: BURST, processingConcurrency: BURST });
      burstRows.push(
        { metric: `burst ×${BURST} peak RSS vs semaphore ${BURST}`, value: burst.peakRssMb, unit: "MB", better: "lower", baseline: open.peakRssMb },
        {
          metric: `burst ×${BURST} RSS growth vs semaphore ${BURST}`,
          value: burst.peakRssMb - burst.rssBeforeMb,
          unit: "MB",
          better: "lower",
          baseline: open.peakRssMb - open.rssBeforeMb,
        },
        { metric: `burst ×${BURST} drain time vs semaphore ${BURST}`, value: burst.wallMs, unit: "ms", better: "lower", baseline: open.wallMs },
      );
    }
    return [...compareRows("upload flow", pipeline, baseline), ...burstRows.map((r) => ({ ...r, peakRssMb: burst.peakRssMb }))];
  },

  tasks: {
    async baseline(ctx) {
      const { file, iterations, concurrency } = argsOf(ctx);
      // Same libvips settings as the pipeline (src/domain/media/process.ts turns the operation cache off), so neither
      // side can answer a repeat of the same image from cache.
      sharp.cache(false);
      const bytes = await readFile(file);
      const resize = () => sharp(bytes).resize(1080, 1080, { fit: "inside", withoutEnlargement: true }).webp({ quality: 85 }).toBuffer();
      return ctx.measure("sharp decode + 1080 WebP", resize, { iterations, concurrency, warmup: WARMUP });
    },

    async pipeline(ctx) {
      const { file, iterations, concurrency } = argsOf(ctx);
      const bytes = await readFile(file);
      const t = await ctx.app({ MEDIA_PROCESSING_CONCURRENCY: String(concurrency) });
      const agent = await t.registerAgent();
      const flow = async () => complete(t, agent.key, await stage(t, agent.key, bytes));
      return ctx.measure("upload → PUT → complete", flow, { iterations, concurrency, warmup: WARMUP });
    },

    async burst(ctx) {
      const { file, burst, processingConcurrency } = argsOf(ctx);
      const bytes = await readFile(file);
      const t = await ctx.app({ MEDIA_PROCESSING_CONCURRENCY: String(processingConcurrency) });
      const agent = await t.registerAgent();
      // Staging streams the bytes to disk, so the footprint measured before the burst is still the idle app's.
      const uploadIds: string[] = [];
      for (let i = 0; i < burst; i++) uploadIds.push(await stage(t, agent.key, bytes));
      return ctx.measure(`${burst} completions at once`, (i) => complete(t, agent.key, uploadIds[i]!), {
        iterations: burst,
        concurrency: burst,
      });
    },
  },
};
