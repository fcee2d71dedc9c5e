// CreateKey, Encrypt, Decrypt and GenerateDataKey against a running Trent,
// through the AWS SDK for JavaScript v3 (@aws-sdk/client-kms), unmodified.
//
//   TRENT_ENDPOINT=http://127.0.0.1:4600 AWS_ACCESS_KEY_ID=... \
//   AWS_SECRET_ACCESS_KEY=... [AWS_SESSION_TOKEN=...] node kms_roundtrip.mjs
//
// Prints one JSON line: what each step returned (no plaintext, no data
// key), or {"error": {"name", "message", "status"}} for the first failure,
// and exits 0 either way; any other exit is a broken script.
import {
  KMSClient,
  CreateKeyCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
} from "@aws-sdk/client-kms";

const client = new KMSClient({
  endpoint: process.env.TRENT_ENDPOINT,
  region: process.env.AWS_REGION ?? "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
    sessionToken: process.env.AWS_SESSION_TOKEN || undefined,
  },
  maxAttempts: 1,
});

const equal = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

try {
  const { KeyMetadata: key } = await client.send(new CreateKeyCommand({ Description: "js-sdk-v3" }));
  const plaintext = Buffer.from("through the JavaScript SDK v3");
  const context = { app: "js" };
  const enc = await client.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: plaintext, EncryptionContext: context }));
  const dec = await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }));
  const dk = await client.send(new GenerateDataKeyCommand({ KeyId: key.Arn, KeySpec: "AES_256" }));
  const dkBack = await client.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }));
  let wrongContext = null;
  try {
    await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { app: "other" } }));
  } catch (e) {
    wrongContext = e.name;
  }
  console.log(JSON.stringify({
    keyId: key.KeyId,
    arn: key.Arn,
    keyState: key.KeyState,
    encryptKeyId: enc.KeyId,
    decryptKeyId: dec.KeyId,
    roundTrip: equal(dec.Plaintext, plaintext),
    dataKeyBytes: dk.Plaintext.length,
    dataKeyKeyId: dk.KeyId,
    dataKeyRoundTrip: equal(dkBack.Plaintext, dk.Plaintext),
    wrongContext,
  }));
} catch (e) {
  console.log(JSON.stringify({ error: { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode ?? null } }));
}
