import type { Media, MediaService } from "../../../domain/media/service.ts";

/** Media (contract §4.4) plus our extras: true dimensions, blurhash and derivative URLs. */
export function mediaObject(m: Media, media: Pick<MediaService, "urlFor">) {
  return {
    media_id: m.id,
    url: media.urlFor(m.variants.original.key),
    width: m.width,
    height: m.height,
    format: m.format,
    blurhash: m.blurhash,
    feed_url: media.urlFor(m.variants.feed.key),
    thumbnail_url: media.urlFor(m.variants.thumbnail.key),
  };
}
