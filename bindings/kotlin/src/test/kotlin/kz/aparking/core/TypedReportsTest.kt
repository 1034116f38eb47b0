package kz.aparking.core

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/**
 * What errors, damaged-record reports and conflicts are about is an enum a `when` checks, not a
 * string: these compile only while every case is covered, and read back as the core names them.
 */
class TypedReportsTest {
    /** An app's label for a conflict's field: an exhaustive `when`, no `else`. */
    private fun label(field: RecordField): String = when (field) {
        is RecordField.Profile -> when (field.field) {
            ProfileField.PHONE -> "Phone"
            ProfileField.FULL_NAME -> "Name"
            ProfileField.EMAIL -> "E-mail"
            ProfileField.PREFERRED_LANGUAGE -> "Language"
        }
        is RecordField.Vehicle -> when (field.field) {
            VehicleField.PLATE -> "Plate"
            VehicleField.NICKNAME -> "Nickname"
            VehicleField.MAKE -> "Make"
            VehicleField.MODEL -> "Model"
            VehicleField.COLOUR -> "Colour"
            VehicleField.REGISTRATION_CERTIFICATE_NUMBER -> "Certificate"
        }
        is RecordField.Document -> when (field.field) {
            DocumentField.NUMBER -> "Number"
            DocumentField.ISSUED_ON -> "Issued"
            DocumentField.EXPIRES_ON -> "Expires"
            DocumentField.VEHICLE_ID -> "Vehicle"
        }
    }

    /** The values a remote delete removed, whatever the record: an exhaustive `when`. */
    private fun summary(values: RecordValues): String = when (values) {
        is RecordValues.Profile -> values.profile.phone.orEmpty()
        is RecordValues.Vehicle -> values.vehicle.plate
        is RecordValues.Document -> values.document.number
    }

    @Test
    fun `every entity an error can name reads as words in its message`() {
        val words = mapOf(
            Entity.PROFILE to "profile", Entity.VEHICLE to "vehicle", Entity.DOCUMENT to "document",
            Entity.CONSENT_RECEIPT to "consent receipt", Entity.CONSENT_RECEIPT_CHAIN to "consent receipt chain",
            Entity.TELEMETRY_EVENT to "telemetry event", Entity.NETWORK_SAMPLE to "network sample",
            Entity.COMPLAINT to "complaint", Entity.SYNC_CONFLICT to "sync conflict",
            Entity.SYNC_MIRROR_RECORD to "sync mirror record", Entity.OUTBOX_ENTRY to "outbox entry",
            Entity.PAST_VALUE to "past value", Entity.STORE_EPOCH to "store epoch", Entity.STORE_FILE to "store file",
        )
        assertEquals(Entity.entries.toSet(), words.keys, "every entity has its words")
        for ((entity, name) in words) {
            val message = AparkingException.NotFound(entity).message.orEmpty()
            assertEquals("${name.replaceFirstChar(Char::uppercase)} not found.", message)
        }
        for (kind in RecordKind.entries) {
            val message = AparkingException.AlreadyExists(kind).message.orEmpty()
            assertEquals("${kind.name.lowercase().replaceFirstChar(Char::uppercase)} already exists.", message)
        }
    }

    @Test
    fun `a conflict's field and a removed record are typed values an exhaustive when reads`() {
        assertEquals("Colour", label(RecordField.Vehicle(VehicleField.COLOUR)))
        assertEquals("Expires", label(RecordField.Document(DocumentField.EXPIRES_ON)))
        assertEquals(RecordField.Vehicle(VehicleField.PLATE), RecordField.Vehicle(VehicleField.PLATE), "values compare by content")
        assertTrue(RecordField.Vehicle(VehicleField.PLATE) != RecordField.Vehicle(VehicleField.MAKE))
        assertEquals("123ABC02", summary(RecordValues.Vehicle(NewVehicle(plate = "123ABC02"))))
        assertEquals("DL1234567", summary(RecordValues.Document(NewDocument(DocumentKind.DRIVER_LICENCE, "DL1234567"))))
    }
}
