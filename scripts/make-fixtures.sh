#!/usr/bin/env bash
# Regenerates the demo and test media in demo/media/ (committed; nothing needs ffmpeg at run time).
#
# One synthetic 40 s clip (testsrc2 + a large frame counter and clock, sine tone with a beep each
# second) encoded in one ffmpeg run into two renditions with identical timestamps, cut into
# 2 s MPEG-TS segments. Every segment starts with an IDR frame (fixed GOP of FPS*SEGMENT_SECONDS,
# no scene-cut keyframes) and there are no B-frames (so every rendition has the same presentation
# offset): segment boundaries and timestamps are aligned across renditions, a level switch is
# seamless, and timestamps run on continuously from one segment to the next.
#
# Output:
#   demo/media/<rendition>/seg-<i>.ts      i = 0..SEGMENTS-1
#   demo/media/<rendition>/durations.json  exact segment durations in seconds, from ffprobe
#   demo/media/renditions.json             [{name, width, height, bandwidth, codecs}]
set -euo pipefail

FPS=25
SEGMENT_SECONDS=2
SEGMENTS=20
DURATION=$((SEGMENT_SECONDS * SEGMENTS))
GOP=$((FPS * SEGMENT_SECONDS))
AUDIO_KBPS=48

# name width height video_kbps x264_profile
RENDITIONS=(
  "180p 320 180 350 baseline"
  "270p 480 270 700 main"
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/demo/media"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

for tool in ffmpeg ffprobe node; do
  command -v "$tool" >/dev/null || { echo "make-fixtures: $tool not found" >&2; exit 1; }
done

# Video: split one source, label and scale each branch. Text is drawn before scaling so every
# rendition shows the same picture; the label tells renditions apart after a level switch.
filter="[0:v]drawtext=font=monospace:fontsize=150:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=12"
filter+=":x=(w-tw)/2:y=(h-th)/2-60:text='%{frame_num}'"
filter+=",drawtext=font=monospace:fontsize=56:fontcolor=yellow:box=1:boxcolor=black@0.6:boxborderw=8"
filter+=":x=(w-tw)/2:y=h-th-150:text='%{pts\\:hms}'"
filter+=",split=${#RENDITIONS[@]}"
for i in "${!RENDITIONS[@]}"; do filter+="[v$i]"; done
for i in "${!RENDITIONS[@]}"; do
  read -r name width height _ _ <<<"${RENDITIONS[$i]}"
  filter+=";[v$i]drawtext=font=monospace:fontsize=64:fontcolor=cyan:box=1:boxcolor=black@0.6"
  filter+=":boxborderw=8:x=24:y=24:text='$name',scale=${width}x${height}[out$i]"
done

outputs=()
for i in "${!RENDITIONS[@]}"; do
  read -r name width height kbps profile <<<"${RENDITIONS[$i]}"
  mkdir -p "$TMP/$name"
  outputs+=(
    -map "[out$i]" -map 1:a
    -c:v libx264 -profile:v "$profile" -preset slow -pix_fmt yuv420p -bf 0
    -b:v "${kbps}k" -maxrate "$((kbps * 11 / 10))k" -bufsize "$((kbps * 2))k"
    -g "$GOP" -keyint_min "$GOP" -sc_threshold 0
    -force_key_frames "expr:gte(t,n_forced*$SEGMENT_SECONDS)"
    -c:a aac -profile:a aac_low -b:a "${AUDIO_KBPS}k" -ar 48000 -ac 2
    -f hls -hls_time "$SEGMENT_SECONDS" -hls_list_size 0 -hls_playlist_type vod
    -hls_segment_type mpegts -hls_segment_filename "$TMP/$name/seg-%d.ts"
    "$TMP/$name/index.m3u8"
  )
done

ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=$FPS:duration=$DURATION" \
  -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=$DURATION" \
  -filter_complex "$filter" "${outputs[@]}"

# Exact duration of each segment: from one segment's first video frame to the next one's;
# the last segment runs to the end of its video stream.
video_span() { # file -> "start_time duration" of the video stream
  ffprobe -v error -select_streams v:0 -show_entries stream=start_time,duration \
    -of default=noprint_wrappers=1:nokey=1 "$1" | paste -sd ' '
}

rm -rf "$OUT"
mkdir -p "$OUT"
renditions_json="["
for i in "${!RENDITIONS[@]}"; do
  read -r name width height kbps _ <<<"${RENDITIONS[$i]}"
  count=$(find "$TMP/$name" -name 'seg-*.ts' | wc -l)
  [ "$count" -eq "$SEGMENTS" ] || { echo "make-fixtures: $name has $count segments" >&2; exit 1; }
  mkdir -p "$OUT/$name"
  spans=()
  for ((s = 0; s < SEGMENTS; s++)); do
    cp "$TMP/$name/seg-$s.ts" "$OUT/$name/seg-$s.ts"
    spans+=("$(video_span "$OUT/$name/seg-$s.ts")")
  done
  printf '%s\n' "${spans[@]}" | node -e '
    const spans = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) => l.split(" ").map(Number));
    const round = (x) => Math.round(x * 1e6) / 1e6;
    const durations = spans.map(([start, duration], i) =>
      round(i + 1 < spans.length ? spans[i + 1][0] - start : duration));
    process.stdout.write(JSON.stringify(durations) + "\n");
  ' >"$OUT/$name/durations.json"

  # RFC 6381 codecs: avc1.<profile_idc><constraint flags><level_idc> read from the SPS of the
  # first segment (the byte after a 00 00 01 start code whose NAL type is 7), plus AAC-LC.
  avc=$(ffmpeg -v error -i "$OUT/$name/seg-0.ts" -map 0:v:0 -c copy -f h264 - | node -e '
    const b = require("fs").readFileSync(0);
    for (let i = 0; i + 6 < b.length; i++) {
      if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1 && (b[i + 3] & 0x1f) === 7) {
        const hex = (x) => x.toString(16).padStart(2, "0");
        process.stdout.write("avc1." + hex(b[i + 4]) + hex(b[i + 5]) + hex(b[i + 6]));
        process.exit(0);
      }
    }
    process.exit(1);
  ')
  # BANDWIDTH is the peak rate: the highest per-segment bit rate, TS overhead included.
  bandwidth=$(node -e '
    const fs = require("fs");
    const dir = process.argv[1];
    const durations = JSON.parse(fs.readFileSync(dir + "/durations.json", "utf8"));
    const peak = Math.max(...durations.map((d, i) => (fs.statSync(dir + "/seg-" + i + ".ts").size * 8) / d));
    process.stdout.write(String(Math.ceil(peak / 1000) * 1000));
  ' "$OUT/$name")
  [ "$i" -gt 0 ] && renditions_json+=","
  renditions_json+="{\"name\":\"$name\",\"width\":$width,\"height\":$height,"
  renditions_json+="\"bandwidth\":$bandwidth,\"codecs\":\"$avc,mp4a.40.2\"}"
done
renditions_json+="]"
node -e 'process.stdout.write(JSON.stringify(JSON.parse(process.argv[1]), null, 2) + "\n")' \
  "$renditions_json" >"$OUT/renditions.json"

cat "$OUT/renditions.json"
du -sh "$OUT"
