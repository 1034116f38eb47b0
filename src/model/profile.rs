//! The user's profile.

use std::time::SystemTime;

/// The language the user prefers for the app and for messages from the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Language {
    /// Kazakh.
    Kk,
    /// Russian.
    Ru,
    /// English.
    En,
}

impl Language {
    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Language::Kk => "kk",
            Language::Ru => "ru",
            Language::En => "en",
        }
    }

    /// Parses an ISO 639-1 code.
    pub(crate) fn from_code(code: &str) -> Option<Self> {
        match code {
            "kk" => Some(Language::Kk),
            "ru" => Some(Language::Ru),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

/// The user's profile. `phone` is required; everything else is optional.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Profile {
    /// Stable id of the profile record.
    pub id: String,
    /// Phone number in E.164 form (`+77012345678`). Required.
    pub phone: String,
    /// Full name as the user typed it (trimmed).
    pub full_name: Option<String>,
    /// E-mail address (domain in lower case).
    pub email: Option<String>,
    /// Preferred language.
    pub preferred_language: Option<Language>,
    /// When the profile was first saved.
    pub created_at: SystemTime,
    /// When the profile was last changed.
    pub updated_at: SystemTime,
}

/// The profile's fields, with whether each is required (see `isRequired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ProfileField {
    /// Phone number (required).
    Phone,
    /// Full name.
    FullName,
    /// E-mail address.
    Email,
    /// Preferred language.
    PreferredLanguage,
}

impl ProfileField {
    /// Every profile field.
    pub const ALL: [ProfileField; 4] = [
        ProfileField::Phone,
        ProfileField::FullName,
        ProfileField::Email,
        ProfileField::PreferredLanguage,
    ];

    /// Whether a profile must have this field.
    pub fn is_required(self) -> bool {
        matches!(self, ProfileField::Phone)
    }

    /// The field's name in errors and exports.
    pub fn name(self) -> &'static str {
        match self {
            ProfileField::Phone => "phone",
            ProfileField::FullName => "full_name",
            ProfileField::Email => "email",
            ProfileField::PreferredLanguage => "preferred_language",
        }
    }
}

/// The profile fields a profile must have (today: the phone number).
#[uniffi::export]
pub fn required_profile_fields() -> Vec<ProfileField> {
    ProfileField::ALL
        .into_iter()
        .filter(|f| f.is_required())
        .collect()
}

/// A partial update of the profile: an unset field (null / nil) keeps its value, a value sets it, a field in
/// `clear` is removed. The first update creates the profile and must set `phone`.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct ProfilePatch {
    /// New phone number, in any common form (`8 701 ...`, `+7 (701) ...`).
    #[uniffi(default = None)]
    pub phone: Option<String>,
    /// New full name.
    #[uniffi(default = None)]
    pub full_name: Option<String>,
    /// New e-mail address.
    #[uniffi(default = None)]
    pub email: Option<String>,
    /// New preferred language.
    #[uniffi(default = None)]
    pub preferred_language: Option<Language>,
    /// Optional fields to remove. Listing a required field is an error.
    #[uniffi(default = [])]
    pub clear: Vec<ProfileField>,
}
