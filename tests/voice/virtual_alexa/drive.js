// Drives one locale's interaction model through Bespoken's virtual-alexa: utterances become
// IntentRequests (sample matching, slot filling, static entity resolution, dialog state from the
// model) POSTed to the skill URL. One process per locale; the plan comes on stdin, the exchanges
// go to stdout as JSON. tests/voice/test_virtual_alexa.py writes the plan and judges the answers.
//
// Where virtual-alexa is narrower than Alexa, this file adds what Alexa documents (and says so):
// 1. custom slot types accept words outside their value list (Alexa's are not enumerations);
// 2. in languages written without spaces (ja-JP) a slot may touch the words around it;
// 3. Dialog.UpdateDynamicEntities from an answer resolve later slot values in the session
//    (the dynamic authority first, as Alexa orders it);
// 4. Amazon's built-in intents understand their own words per language (builtins.json); an
//    utterance no sample matches goes to AMAZON.FallbackIntent;
// 5. a hyphen joins words as a space does ("est-ce que", "montre-moi"): virtual-core deletes hyphens
//    from the utterance but not from the samples, so no hyphenated sample could ever match.
// A "route" step only asks which intent and slot values an utterance gets (the samples' own check).
// The utterance is never parsed for launch phrases (virtual-alexa's utter() would take "tell me
// my cameras" or "Einstellungen" for a launch): cases are what the user says to the open skill.
"use strict";

const fs = require("fs");
const path = require("path");
const { VirtualAlexa } = require("virtual-alexa");
const core = require("virtual-core");
const { SamplePhraseTest } = require("virtual-core/lib/src/SampleUtterances");

const SPACELESS_LANGUAGES = ["ja"];
const PUNCTUATION = /[?!.,、。？！「」-]/g; // speech recognition writes none; a hyphen is a space (5.)
const HYPHEN = /\s*-\s*/g;

// What speech recognition hands over for ``say``: no punctuation, single spaces.
function heardText(say) {
  return say.replace(PUNCTUATION, " ").replace(/\s+/g, " ").trim();
}

function openCustomSlots() {
  const enumerated = core.SlotType.prototype.match;
  core.SlotType.prototype.match = function match(value) {
    const found = enumerated.call(this, value);
    if (found.matches || this.isBuiltin() || value.trim().length === 0) {
      return found;
    }
    const heard = new core.SlotMatch(true, value);
    heard.untyped = true; // a listed value still wins a tie
    return heard;
  };
}

function slotsMayTouchWords() {
  SamplePhraseTest.prototype.checkSlots = function checkSlots(input, slotValues) {
    const intent = this.intentSchema().intent(this.samplePhrase.intent);
    const result = [];
    for (let index = 0; index < slotValues.length; index++) {
      const slot = intent.slotForName(this.samplePhrase.slotName(index));
      const found = this.slotTypes().matchesSlot(slot.type, slotValues[index]);
      if (!found.matches) {
        return undefined;
      }
      result.push(found);
    }
    return result;
  };
}

function withBuiltins(document, words) {
  const model = JSON.parse(JSON.stringify(document));
  for (const intent of model.interactionModel.languageModel.intents) {
    const extra = words[intent.name] || [];
    const samples = [...(intent.samples || []), ...extra.filter((w) => !(intent.samples || []).includes(w))];
    intent.samples = samples.map((sample) => sample.replace(HYPHEN, " "));
  }
  return model;
}

function dynamicResolution(authority, entities, heard) {
  const said = heard.trim().toLowerCase();
  const hits = entities.filter((entity) =>
    [entity.name.value, ...(entity.name.synonyms || [])].some((form) => form.toLowerCase() === said),
  );
  if (hits.length === 0) {
    return { authority, status: { code: "ER_SUCCESS_NO_MATCH" } };
  }
  return {
    authority,
    status: { code: "ER_SUCCESS_MATCH" },
    values: hits.map((entity) => ({ value: { id: entity.id, name: entity.name.value } })),
  };
}

async function main() {
  const plan = JSON.parse(fs.readFileSync(0, "utf8"));
  const language = plan.locale.split("-")[0];
  openCustomSlots();
  if (SPACELESS_LANGUAGES.includes(language)) {
    slotsMayTouchWords();
  }
  const builtins = JSON.parse(fs.readFileSync(path.join(__dirname, "builtins.json"), "utf8"));
  const document = JSON.parse(fs.readFileSync(plan.model, "utf8"));
  const alexa = VirtualAlexa.Builder()
    .interactionModel(withBuiltins(document, builtins[plan.locale] || {}))
    .skillURL(plan.url)
    .locale(plan.locale)
    .applicationID(plan.applicationId)
    .create();
  let raw = null; // the skill's answer as it came over HTTP (send() wraps it)
  const interactor = alexa.interactor();
  const post = interactor.invoke.bind(interactor);
  interactor.invoke = async (json) => {
    raw = await post(json);
    return raw;
  };
  const dynamicAuthority = `amzn1.er-authority.echo-sdk.dynamic.${plan.applicationId}`;
  let entities = {}; // slot type -> dynamic entities of the session
  let sent = null;
  alexa.filter((request) => {
    request.context.System.user.userId = plan.userId;
    if (request.session) {
      request.session.user.userId = plan.userId;
    }
    const slots = (request.request.intent && request.request.intent.slots) || {};
    const intentModel = document.interactionModel.languageModel.intents.find(
      (i) => i.name === request.request.intent?.name,
    );
    for (const slot of Object.values(slots)) {
      const type = (intentModel?.slots || []).find((s) => s.name === slot.name)?.type;
      if (slot.value && type && entities[type]) {
        const resolutions = slot.resolutions || { resolutionsPerAuthority: [] };
        const authority = `${dynamicAuthority}.${type}`;
        resolutions.resolutionsPerAuthority.unshift(dynamicResolution(authority, entities[type], slot.value));
        slot.resolutions = resolutions;
      }
    }
    sent = JSON.parse(JSON.stringify(request));
  });

  const sessions = [];
  for (const session of plan.sessions) {
    alexa.context().endSession();
    entities = {};
    alexa.context().setAccessToken(session.token || null);
    const exchanges = [];
    for (const step of session.steps) {
      sent = null;
      raw = null;
      let request;
      let routed = null;
      if (step.type === "route") {
        // Only the model's understanding: the intent and slot values the utterance gets, nothing sent.
        const heard = new core.Utterance(alexa.context().interactionModel(), heardText(step.say));
        exchanges.push({ step, routed: heard.matched() ? heard.intent() : null, slots: heard.matched() ? heard.toJSON() : {} });
        continue;
      }
      if (step.type === "launch") {
        request = alexa.request().launch();
      } else {
        const heard = new core.Utterance(alexa.context().interactionModel(), heardText(step.say));
        routed = heard.matched() ? heard.intent() : "AMAZON.FallbackIntent";
        request = alexa.request().intent(routed).slots(heard.matched() ? heard.toJSON() : {});
      }
      try {
        await request.send();
        for (const directive of raw.response?.directives || []) {
          if (directive.type === "Dialog.UpdateDynamicEntities") {
            for (const type of directive.types) {
              entities[type.name] = type.values;
            }
          }
        }
        exchanges.push({ step, routed, request: sent, response: raw });
      } catch (error) {
        exchanges.push({ step, routed, request: sent, error: String(error) });
      }
    }
    sessions.push(exchanges);
  }
  process.stdout.write(JSON.stringify({ sessions }));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
