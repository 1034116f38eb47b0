#!/usr/bin/env bash
# Writes the seed corpora (fuzz/corpus/<target>/): a handful of small valid (and nearly
# valid) inputs per target. Re-run after changing a format; the files are committed.
#
#   bash fuzz/make-seeds.sh
set -euo pipefail
cd "$(dirname "$0")"

V1=11111111-1111-4111-8111-111111111111 # remote vehicle 1 (fixture, version 2)
V2=22222222-2222-4222-8222-222222222222 # remote vehicle 2 (version 1)
D3=33333333-3333-4333-8333-333333333333 # remote document 3 (version 1, of vehicle 1)
NEW=44444444-4444-4444-8444-444444444444
SHA=abababababababababababababababababababababababababababababababab

seed() { # target name content (printf format, no arguments)
    mkdir -p "corpus/$1"
    # shellcheck disable=SC2059
    printf "$3" >"corpus/$1/$2"
}

rm -rf corpus
i=0
for p in '123ABC02' '123 авс 02' '123-АВС-20' 'A 123 BCD' 'a123bc' '123ABC21' '777 KZX 01'; do
    seed plate "seed-$((i += 1))" "$p"
done
i=0
for d in 'AB 12-34 56' 'ав123456' 'DL88112233' '1234' '№123456' 'VRC 5566 778 KZ 01 23'; do
    seed document_number "seed-$((i += 1))" "$d"
done
i=0
for p in '+7 701 234 56 78' '8 (701) 234-56-78' '77012345678' '+7-701-234-5678' '+1 202 555 0100' '+7 101 234 56 78'; do
    seed phone "seed-$((i += 1))" "$p"
done

manifest() { # version [extra fields]
    printf '{"version":%s,"last_updated":"2026-01-15","url":"https://aparking.kz/privacy","text_sha256":"%s","purposes":["statistics","connection_diagnostics"]%s}' "$1" "$SHA" "${2:-}"
}
seed policy_manifest v4 "$(manifest 4)"
seed policy_manifest v3-same "$(manifest 3)"
seed policy_manifest v1-older "$(manifest 1)"
seed policy_manifest unknown-field "$(manifest 5 ',"title":"Политика"')"
seed policy_manifest duplicate-key "$(manifest 4 ',"version":6')"
seed policy_manifest bad-sha '{"version":4,"last_updated":"2026-01-15","url":"https://aparking.kz/p","text_sha256":"AB","purposes":["statistics"]}'
seed policy_manifest no-purposes '{"version":4,"last_updated":"2026-02-30","url":"http://x","text_sha256":"","purposes":[]}'

# Pull pages. First byte: 0 = the server wins conflicts, 1 = this device wins.
page() { # changes [cursor has_more]
    printf '{"changes":[%s],"cursor":"%s","has_more":%s}' "$1" "${2:-c2}" "${3:-false}"
}
vehicle() { # id version fields
    printf '{"entity":"vehicle","record_id":"%s","version":%s,"deleted":false,"fields":%s}' "$1" "$2" "$3"
}
conflict=$(vehicle $V1 3 '{"plate":"777KZX01","nickname":"Server name","make":"Lada","model":"Niva","colour":"green","registration_certificate_number":null}')
seed sync_pull conflict-server-wins "\x00$(page "$conflict")"
seed sync_pull conflict-local-wins "\x01$(page "$conflict")"
seed sync_pull delete "\x00$(page "{\"entity\":\"vehicle\",\"record_id\":\"$V2\",\"version\":2,\"deleted\":true}")"
seed sync_pull same-plate-elsewhere "\x00$(page "$(vehicle $NEW 1 '{"plate":"321 CBA 03","nickname":"Same car","make":null,"model":null,"colour":null,"registration_certificate_number":null}')")"
seed sync_pull profile "\x00$(page '{"entity":"profile","record_id":"@p","version":2,"deleted":false,"fields":{"phone":"+77051112233","full_name":"A","email":null,"preferred_language":"kk"}}')"
seed sync_pull documents "\x00$(page "{\"entity\":\"document\",\"record_id\":\"$D3\",\"version\":2,\"deleted\":false,\"fields\":{\"kind\":\"driver_licence\",\"number\":\"DL00112233\",\"issued_on\":null,\"expires_on\":\"2031-01-01\",\"vehicle_id\":\"$V2\"}},{\"entity\":\"document\",\"record_id\":\"@d0\",\"version\":2,\"deleted\":false,\"fields\":{\"kind\":\"driver_licence\",\"number\":\"DL88112233\",\"issued_on\":null,\"expires_on\":null,\"vehicle_id\":null}},{\"entity\":\"document\",\"record_id\":\"@d1\",\"version\":1,\"deleted\":true}")"
seed sync_pull has-more "\x00$(page "$(vehicle $V2 2 '{"plate":"555XYZ05","nickname":"x","colour":"red","extra":"ignored"}')" c9 true)"
seed sync_pull hostile "\x00$(page '{"entity":"vehicle","record_id":"not-a-uuid","version":0},{"entity":"consent_receipt","record_id":"@v0","version":1},{"entity":"vehicle","record_id":"@v1","version":1099511627777,"fields":{"plate":1}}')"

# Push answers to the fixture's first push (5 changes: the withdrawal receipt, then the
# profile, vehicle 1, the new vehicle @v2, the removal of @d0). "#N" is change N's id.
result() { printf '{"change_id":"#%s","status":"%s"%s}' "$1" "$2" "${3:-}"; }
seed sync_push all-applied "{\"results\":[$(result 0 applied ',"version":1'),$(result 1 applied ',"version":2'),$(result 2 applied ',"version":3'),$(result 3 applied ',"version":1'),$(result 4 applied ',"version":2')]}"
seed sync_push mixed "{\"results\":[$(result 0 duplicate),$(result 1 conflict ',"version":5'),$(result 2 exists ',"existing_record_id":"'$V2'"'),$(result 3 rejected ',"reason":"invalid_field"'),$(result 4 gone ',"version":9')]}"
seed sync_push gone-all "{\"results\":[$(result 1 gone),$(result 2 gone ',"version":3'),$(result 3 gone),$(result 4 gone)]}"
seed sync_push no-version "{\"results\":[$(result 1 applied),$(result 2 duplicate ',"version":0')]}"
seed sync_push huge-version "{\"results\":[$(result 2 applied ',"version":1099511627777'),$(result 0 rejected)]}"
seed sync_push no-results '{"results":null}'

# Damaged stores. First byte: 0 = flips in the database, 1 = flips in the write-ahead
# log, 2 = the rest is the whole file. A flip: 3-byte little-endian offset, XOR byte.
seed store_open header-flip '\x00\x12\x00\x00\x01'
seed store_open page-2-flips '\x00\x10\x10\x00\x80\x00\x20\x00\x04'
seed store_open deep-flip '\x00\x00\x80\x00\x40\x33\x90\x00\x01'
seed store_open wal-flip '\x01\x40\x00\x00\x01'
seed store_open wal-late-flip '\x01\x00\x90\x00\x10'
seed store_open header-only '\x02SQLite format 3\x00\x10\x00\x01\x01\x00\x40\x20\x20\x00\x00\x00\x01'
seed store_open not-sqlite '\x02hello, not a database'
for t in corpus/*; do echo "$t: $(find "$t" -type f | wc -l) seeds"; done
