"""Pre-signs Twilio WhatsApp webhooks for wrk: written from Twilio's documented algorithm
(base64 HMAC-SHA1 over the URL followed by each POST parameter name+value, sorted by name),
independently of omni-loadgen. Usage: sign_webhooks.py FIXTURE PUBLIC_BASE_URL N NEW_PERCENT OUT (FIXTURE: the one
`omni-loadgen seed` writes; prints the MessageSid prefix of the run)"""
import base64, hashlib, hmac, json, random, sys, urllib.parse
fixture, base, n, new_pct, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
companies = json.load(open(fixture))["companies"]
url = base + "/ticket-messages/webhook"
run = "SMwrk%06d" % random.randrange(10**6)
bodies = ["Olá, meu pedido não chegou ainda", "Quero trocar o produto, veio quebrado",
          "Obrigado pelo atendimento!", "Qual o prazo de entrega?", "Preciso da segunda via do boleto",
          "O app não abre desde ontem", "Vocês entregam no sábado?", "Cancelar minha assinatura por favor"]
with open(out, "w") as f:
    for i in range(n):
        ci = random.randrange(len(companies))
        c = companies[ci]
        if random.randrange(100) < new_pct:
            phone = "+5598%09d" % random.randrange(10**9)
        else:
            j = random.randrange(4000)
            k = 5 * (j // 2) + j % 2          # a seeded customer whose ticket is new or open
            phone = "+55%03d%07d" % (ci % 1000, k)
        sid = "%s%010d" % (run, i)
        params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid,
                  "AccountSid": "AC" + "0" * 32, "From": "whatsapp:" + phone,
                  "To": "whatsapp:" + c["phone"], "Body": random.choice(bodies),
                  "NumMedia": "0", "NumSegments": "1", "ProfileName": "Cliente %d" % (i % 997),
                  "WaId": phone[1:], "SmsStatus": "received", "ApiVersion": "2010-04-01"}
        data = url + "".join(k + params[k] for k in sorted(params))
        sig = base64.b64encode(hmac.new(c["auth_token"].encode(), data.encode(), hashlib.sha1).digest()).decode()
        f.write(sig + "\t" + urllib.parse.urlencode(params) + "\n")
print(run)
